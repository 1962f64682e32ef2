"""`ofhq daemon`: the Dagster daemon (`dagster-daemon run`) with a sensor loop tuned for latency.

Dagster's sensor daemon waits 5 s between evaluation loops whatever a sensor's
`minimum_interval_seconds` says (`dagster._daemon.sensor.MIN_INTERVAL_LOOP_TIME`): a landed
webhook waits 2.5 s on average before the webhook sensor even sees it. This command runs the same
daemon, in the same process, with a shorter loop (0.5 s). Every sensor still keeps its own minimum
interval; only the webhook sensor asks for 1 s. Likewise the queue: the instance's
`dequeue_interval_seconds` takes whole seconds only, so a real-time run waited 0.5 s on average
for the next dequeue; here the queue is read every 0.25 s. And the workspace: Dagster's daemon
reloads it every 60 s, which starts a new code server (and so a new warm forkserver for the runs):
on 2 cores that is about a tenth of the machine spent importing the code location again, and the
first run after it waits for those imports. Here it reloads every 10 minutes; restart the daemon
to deploy new code at once. All three are Dagster's own (constants and a property) and the
version is pinned; `ofhq_pipeline_tests/defs/test_run_start.py` fails if any moves.
"""

from __future__ import annotations

import click

# Half the webhook sensor's 1 s minimum interval: a loop that comes 10 ms early would otherwise
# wait a whole second more.
SENSOR_LOOP_SECONDS = 0.5
DEQUEUE_SECONDS = 0.25
WORKSPACE_RELOAD_SECONDS = 600


def tune_sensor_loop(seconds: float) -> None:
    import dagster._daemon.sensor as sensor_daemon

    if not isinstance(getattr(sensor_daemon, "MIN_INTERVAL_LOOP_TIME", None), int | float):
        raise click.ClickException("this Dagster version has no sensor loop interval to tune; "
                                   "run `dagster-daemon run` instead")
    sensor_daemon.MIN_INTERVAL_LOOP_TIME = seconds


def tune_dequeue(seconds: float) -> None:
    from dagster._core.run_coordinator.queued_run_coordinator import QueuedRunCoordinator

    if not isinstance(QueuedRunCoordinator.__dict__.get("dequeue_interval_seconds"), property):
        raise click.ClickException("this Dagster version has no dequeue interval to tune; "
                                   "run `dagster-daemon run` instead")
    QueuedRunCoordinator.dequeue_interval_seconds = property(lambda _self: seconds)


def tune_workspace_reload(seconds: float) -> None:
    import dagster._daemon.controller as controller

    if not isinstance(getattr(controller, "RELOAD_WORKSPACE_INTERVAL", None), int | float):
        raise click.ClickException("this Dagster version has no workspace reload interval to "
                                   "tune; run `dagster-daemon run` instead")
    controller.RELOAD_WORKSPACE_INTERVAL = seconds


@click.command("daemon", context_settings={"ignore_unknown_options": True})
@click.option("--sensor-loop-seconds", default=SENSOR_LOOP_SECONDS, show_default=True, type=float,
              help="pause between sensor evaluation loops (Dagster's default is 5)")
@click.option("--dequeue-seconds", default=DEQUEUE_SECONDS, show_default=True, type=float,
              help="pause between reads of the run queue (dagster.yaml takes whole seconds)")
@click.option("--workspace-reload-seconds", default=WORKSPACE_RELOAD_SECONDS, show_default=True,
              type=click.FloatRange(min=1),
              help="pause between reloads of the code location (Dagster's default is 60)")
@click.argument("daemon_args", nargs=-1, type=click.UNPROCESSED)
def daemon(sensor_loop_seconds: float, dequeue_seconds: float, workspace_reload_seconds: float,
           daemon_args: tuple[str, ...]) -> None:
    """Run the Dagster daemon (schedules, sensors, run queue); arguments go to `dagster-daemon
    run`, e.g. `ofhq daemon -w workspace.yaml`."""
    from dagster._daemon.cli import cli as dagster_daemon

    tune_sensor_loop(sensor_loop_seconds)
    tune_dequeue(dequeue_seconds)
    tune_workspace_reload(workspace_reload_seconds)
    dagster_daemon.main(args=["run", *daemon_args], prog_name="ofhq daemon")
