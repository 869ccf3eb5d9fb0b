"""Celery tasks of summaries: ids in, a service call (batch queue)."""

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def summary_step_task(step_id: int) -> None:
    from summarize.steps import step_run

    step_run(step_id)
