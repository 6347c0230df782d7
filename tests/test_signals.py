import os
import signal
import threading

import pytest

from dsl_deploy.signals import GracefulStop


def test_first_signal_asks_second_aborts_and_handlers_come_back():
    before = signal.getsignal(signal.SIGTERM)
    with GracefulStop() as stop:
        assert not stop.requested and stop.signal_name == ""
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested and stop.signal_name == "SIGTERM" and stop.signum == signal.SIGTERM
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGTERM) is before


def test_only_the_signals_asked_for_are_caught():
    before = signal.getsignal(signal.SIGTERM)
    with GracefulStop((signal.SIGINT,)):
        assert signal.getsignal(signal.SIGTERM) is before


def test_outside_the_main_thread_it_leaves_signals_alone():
    seen: list[object] = []

    def work() -> None:
        with GracefulStop() as stop:
            seen.append(signal.getsignal(signal.SIGINT))
            seen.append(stop.requested)

    before = signal.getsignal(signal.SIGINT)
    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert seen == [before, False]


def test_f13_a_second_sigterm_exits_143_not_130(capsys):
    from dsl_deploy.cli.common import cli_entry
    from dsl_deploy.signals import StopSignal

    @cli_entry("dsl-x")
    def main(argv=None):
        with GracefulStop():
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGTERM)
        return 0

    assert main([]) == 143
    assert "dsl-x: interrupted by SIGTERM" in capsys.readouterr().err
    assert issubclass(StopSignal, KeyboardInterrupt) and StopSignal(signal.SIGINT).signum == signal.SIGINT
