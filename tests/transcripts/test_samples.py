"""tests/data/transcripts is what make_samples.py writes (edit the script, not the files)."""

import make_samples


def test_samples_are_generated():
    for name, make in make_samples.FILES.items():
        assert (make_samples.OUT / name).read_text() == make(), f"{name}: run tests/transcripts/make_samples.py"
