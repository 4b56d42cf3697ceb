"""A SIGTERM (a cluster's time limit, `kill`) stops a run as Ctrl-C does: the partial notebook is kept, the work
folder and the lock are removed, nothing is published, and the command says so and returns 130."""

import signal

from modularity.__main__ import main, sigterm_as_interrupt

SOURCE = '''# %% tags=["parameters"]
n: int = 1  # a count

# %%
import os
import signal
import time

print("started", flush=True)
os.kill(os.getppid(), signal.SIGTERM)  # the runner is the kernel's parent
time.sleep(20)
'''


def test_a_terminated_run_keeps_its_partial_notebook_and_leaves_no_lock(notebook_project, capsys):
    project = notebook_project({"slow": SOURCE}, "slow:\n  cpu: {}\n")
    before = signal.getsignal(signal.SIGTERM)
    assert main(["run", "slow", "--preset", "cpu"]) == 130
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is the caller's again
    err = capsys.readouterr().err
    assert "partial output kept in" in err and "interrupted" in err
    assert (project / "runs_local" / "slow" / "cpu-failed.ipynb").exists()
    assert not list((project / "runs_local" / "locks").glob("*.lock"))
    assert not [p for p in (project / "runs_local").iterdir() if p.name.startswith("slow-cpu-")]  # no work folder
    assert not (project / "book" / "runs" / "slow").exists()


def test_outside_a_command_sigterm_is_left_alone():
    before = signal.getsignal(signal.SIGTERM)
    with sigterm_as_interrupt():
        assert signal.getsignal(signal.SIGTERM) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) is before
