from celery import shared_task

from chat import runner


@shared_task(bind=True, acks_late=True, max_retries=3)
def generation_run(self, generation_id: str) -> None:  # type: ignore[no-untyped-def]
    try:
        runner.generation_execute(generation_id)
    except runner.RetryLater as exc:
        if self.request.retries >= self.max_retries:
            runner.generation_give_up(generation_id, str(exc))
            return
        raise self.retry(exc=exc, countdown=2**self.request.retries) from exc


@shared_task(acks_late=True, ignore_result=True)
def generation_step_run(step_id: int) -> None:
    """One step of a generation that works in steps (chat.steps)."""
    from chat.steps import step_run

    step_run(step_id)
