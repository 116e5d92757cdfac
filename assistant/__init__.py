"""Chinese-first question answering over news articles, offline by default, with cited passages."""

from . import offline as _offline

_offline.configure()

__all__ = ["Assistant", "Answer", "AssistantError", "Passage", "Settings"]
__version__ = "0.1.0"


def __getattr__(name):  # lazy: `import assistant` stays cheap for the CLI's --help
    if name == "Assistant" or name == "Answer":
        from .app import api

        return getattr(api, name)
    if name == "Passage":
        from .retrieve.retrieval import Passage

        return Passage
    if name == "AssistantError":
        from .errors import AssistantError

        return AssistantError
    if name == "Settings":
        from .settings import Settings

        return Settings
    raise AttributeError(name)
