from tests.agent.support import fast_runtime, start_worker

__all__ = ["fast_runtime", "start_worker"]
