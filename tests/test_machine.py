import sys

from dsl_deploy.machine import library_versions, machine_info, machine_slug
from dsl_deploy.bench.memory import current_rss_mb, peak_rss_mb


def test_machine_info_fields():
    info = machine_info()
    assert info["cores"] >= 1
    assert info["python"].count(".") == 2
    assert info["versions"]["numpy"] is not None
    assert isinstance(info["gpus"], list)


def test_library_versions_do_not_import_torch():
    before = "torch" in sys.modules
    library_versions()
    assert ("torch" in sys.modules) == before


def test_slug_is_file_name_safe():
    slug = machine_slug({"cpu": "Intel(R) Xeon(R) Gold 5217 @ 3.00GHz", "cores": 2, "gpus": []})
    assert slug == "intel-r-xeon-r-gold-5217-3-00ghz-2c"
    assert machine_slug({"cpu": "x", "cores": 1, "gpus": [{"name": "NVIDIA H100 80GB HBM3"}]}) == "nvidia-h100-80gb-hbm3"


def test_memory_grows_with_allocation():
    import numpy as np

    before = current_rss_mb()
    block = np.ones(64 * 2**20 // 8)  # 64 MB, touched
    now = current_rss_mb()
    assert now >= before + 50
    # The peak is monotonic: at least what is resident now, whatever earlier tests reached.
    assert peak_rss_mb() >= now
    del block
