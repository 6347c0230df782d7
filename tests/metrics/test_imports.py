"""The metrics and dsl-eval's module stay off torch (the runtime path never imports it)."""
from __future__ import annotations

import subprocess
import sys


def test_metrics_and_eval_cli_do_not_import_torch() -> None:
    code = ("import sys, dsl_deploy.metrics, dsl_deploy.metrics.coco_format, dsl_deploy.cli.eval; "
            "bad = [m for m in ('torch', 'torchvision') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
