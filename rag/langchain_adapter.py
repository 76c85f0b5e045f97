"""LangChain at the edge: the only module that imports LangChain.

``KnowledgeBaseRetriever`` is a ``langchain_core`` ``BaseRetriever`` over a
:class:`~rag.kb.KnowledgeBase`; its documents carry the chunk metadata (ids, offsets,
scores). ``ChatModelGenerator`` adapts any LangChain chat model to the generative
answerer's ``complete(system, user) -> str`` / ``stream`` interface.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field


class KnowledgeBaseRetriever(BaseRetriever):
    """Retrieve passages from a knowledge base as LangChain documents."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    kb: Any
    k: int = 5
    search_kwargs: dict[str, Any] = Field(default_factory=dict)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[LCDocument]:
        hits = self.kb.search(query, k=self.k, **self.search_kwargs)
        return [LCDocument(page_content=h.text, id=h.chunk_id, metadata={
            "chunk_id": h.chunk_id, "doc_id": h.doc_id, "title": h.title, "start": h.start, "end": h.end,
            "score": h.score, "rank": h.rank, "source": h.source, "date": h.date,
            "best_start": h.best_start, "best_end": h.best_end, **{f"score_{k}": v for k, v in h.scores.items()},
        }) for h in hits]


class ChatModelGenerator:
    """Wrap a LangChain chat model (``BaseChatModel``) as a text generator."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.name = f"langchain:{type(model).__name__}"

    @staticmethod
    def _messages(system: str, user: str) -> list[Any]:
        from langchain_core.messages import HumanMessage, SystemMessage

        return [SystemMessage(content=system), HumanMessage(content=user)]

    def complete(self, system: str, user: str) -> str:
        result = self.model.invoke(self._messages(system, user))
        return str(getattr(result, "content", result))

    def stream(self, system: str, user: str) -> Iterator[str]:
        for part in self.model.stream(self._messages(system, user)):
            text = getattr(part, "content", part)
            if text:
                yield str(text)
