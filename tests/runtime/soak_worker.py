"""Soak worker, run as a subprocess with torch blocked: a video through the pipeline into JSON lines.

Usage: python soak_worker.py MODEL VIDEO OUT.jsonl SAMPLE_EVERY
Prints one JSON object: resident-memory samples [(frames done, MB)], the stream's stats, whether torch loaded.
"""
from __future__ import annotations

import sys

sys.modules["torch"] = None  # type: ignore[assignment]  # any `import torch` now fails: the runtime must not need it

import json  # noqa: E402

from dsl_deploy.bench.memory import current_rss_mb  # noqa: E402
from dsl_deploy.runtime import Pipeline  # noqa: E402
from dsl_deploy.runtime.sinks import JsonLinesSink  # noqa: E402


def main(model: str, video: str, out: str, every: int) -> None:
    samples = []
    with Pipeline(model, threads=1) as pipeline, JsonLinesSink(out) as sink:
        stream = pipeline.stream(video, with_frames=True)
        for n, (frame, result) in enumerate(stream, 1):
            sink.write(frame, result)
            if n % every == 0:
                samples.append((n, current_rss_mb()))
    torch_loaded = any(name == "torch" or name.startswith("torch.") for name, mod in sys.modules.items()
                       if mod is not None)
    print(json.dumps({"samples": samples, "stats": stream.stats.to_dict(), "torch_loaded": torch_loaded}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
