"""`ofhq daemon`: the Dagster daemon (`dagster-daemon run`) with a sensor loop tuned for latency.

Dagster's sensor daemon waits 5 s between evaluation loops whatever a sensor's
`minimum_interval_seconds` says (`dagster._daemon.sensor.MIN_INTERVAL_LOOP_TIME`): a landed
webhook waits 2.5 s on average before the webhook sensor even sees it. This command runs the same
daemon, in the same process, with a shorter loop (0.5 s). Every sensor still keeps its own minimum
interval; only the webhook sensor asks for 1 s. The constant is Dagster's own and the version is
pinned; `ofhq_pipeline_tests/realtime/test_daemon.py` fails if it moves.
"""

from __future__ import annotations

import click

# Half the webhook sensor's 1 s minimum interval: a loop that comes 10 ms early would otherwise
# wait a whole second more.
SENSOR_LOOP_SECONDS = 0.5


def tune_sensor_loop(seconds: float) -> None:
    import dagster._daemon.sensor as sensor_daemon

    if not isinstance(getattr(sensor_daemon, "MIN_INTERVAL_LOOP_TIME", None), int | float):
        raise click.ClickException("this Dagster version has no sensor loop interval to tune; "
                                   "run `dagster-daemon run` instead")
    sensor_daemon.MIN_INTERVAL_LOOP_TIME = seconds


@click.command("daemon", context_settings={"ignore_unknown_options": True})
@click.option("--sensor-loop-seconds", default=SENSOR_LOOP_SECONDS, show_default=True, type=float,
              help="pause between sensor evaluation loops (Dagster's default is 5)")
@click.argument("daemon_args", nargs=-1, type=click.UNPROCESSED)
def daemon(sensor_loop_seconds: float, daemon_args: tuple[str, ...]) -> None:
    """Run the Dagster daemon (schedules, sensors, run queue); arguments go to `dagster-daemon
    run`, e.g. `ofhq daemon -w workspace.yaml`."""
    from dagster._daemon.cli import cli as dagster_daemon

    tune_sensor_loop(sensor_loop_seconds)
    dagster_daemon.main(args=["run", *daemon_args], prog_name="ofhq daemon")
