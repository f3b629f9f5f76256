"""The code agent: prompts per template, the three sandbox tools, memory, titles and replies."""

from qai.agent._agent import (
    STOPPED,
    AgentOutcome,
    AgentTask,
    StopWatch,
    build_code_agent,
    extract_summary,
    run_code_agent,
    until_stopped,
)
from qai.agent._sandbox import SandboxSpec
from qai.agent.memory import PastMessage, conversation_history
from qai.agent.naming import derive_reply, derive_title, name_and_reply
from qai.agent.tools import AgentDeps, StepKind, StepLog

__all__ = [
    "STOPPED",
    "AgentDeps",
    "AgentOutcome",
    "AgentTask",
    "PastMessage",
    "SandboxSpec",
    "StepKind",
    "StepLog",
    "StopWatch",
    "build_code_agent",
    "conversation_history",
    "derive_reply",
    "derive_title",
    "extract_summary",
    "name_and_reply",
    "run_code_agent",
    "until_stopped",
]
