"""Worker counts for joblib jobs."""

from unittest import mock

from genre_lab import parallel


def test_workers_follow_the_cpu_quota_not_the_host():
    # in a container limited to 2 CPUs on a 64-core host, joblib reports 2
    with mock.patch("joblib.cpu_count", return_value=2), \
            mock.patch("os.cpu_count", return_value=64):
        assert parallel.n_workers(None, 100) == 2
    assert parallel.n_workers(None, 1) == 1          # never more workers than jobs
    assert parallel.n_workers(3, 100) == 3           # an explicit n_jobs wins
