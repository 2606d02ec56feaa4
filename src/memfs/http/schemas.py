"""Request bodies (validated) and response objects (documented in /openapi.json), in the shapes
of Anthropic's memory stores API. Responses are built as plain dicts by render.py; the models
below only describe them."""

from typing import Annotated, Dict, List, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, StrictStr

MetaKey = Annotated[StrictStr, Field(min_length=1, max_length=64)]
MetaValue = Annotated[StrictStr, Field(max_length=512)]
Hash = Annotated[StrictStr, Field(pattern="^[0-9a-fA-F]{64}$", description="Lowercase hex SHA-256")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StoreCreate(_Body):
    name: StrictStr = Field(min_length=1, max_length=255,
                            description="1-255 characters, no control characters or ':'; unique in memfs")
    description: Optional[StrictStr] = Field(None, max_length=1024, description="Shown to agents")
    metadata: Optional[Dict[MetaKey, MetaValue]] = Field(None, json_schema_extra={"maxProperties": 16},
                                                         description="At most 16 pairs")


class StoreUpdate(_Body):
    name: Optional[StrictStr] = Field(None, min_length=1, max_length=255)
    description: Optional[StrictStr] = Field(None, max_length=1024)
    metadata: Optional[Dict[MetaKey, Optional[MetaValue]]] = Field(
        None, description="Patch: a string sets a key, null removes it")


class MemoryCreate(_Body):
    path: StrictStr = Field(pattern="^/[^/]", max_length=1024,
                            description="Starts with '/', at most 1,024 bytes, NFC, 1-20 segments")
    content: StrictStr = Field(description="UTF-8 text, at most the store's limit (102,400 bytes); \"\" is fine")


class Precondition(_Body):
    type: Literal["content_sha256"]
    content_sha256: Hash


class MemoryUpdate(_Body):
    content: Optional[StrictStr] = None
    path: Optional[StrictStr] = Field(None, pattern="^/[^/]", max_length=1024)
    precondition: Optional[Precondition] = None


# ---------------------------------------------------------------------------- responses

Time = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class MemoryStore(BaseModel):
    type: Literal["memory_store"]
    id: str
    name: str
    description: str
    metadata: Dict[str, str]
    created_at: Time
    updated_at: Time
    archived_at: Optional[Time]


class MemoryStoreList(BaseModel):
    data: List[MemoryStore]
    next_page: Optional[str]


class DeletedMemoryStore(BaseModel):
    type: Literal["memory_store_deleted"]
    id: str


class Memory(BaseModel):
    type: Literal["memory"]
    id: str
    memory_store_id: str
    path: str
    content: Optional[str]
    content_sha256: str
    content_size_bytes: int
    memory_version_id: str
    created_at: Time
    updated_at: Time


class MemoryPrefix(BaseModel):
    type: Literal["memory_prefix"]
    path: str


class MemoryList(BaseModel):
    data: List[Union[Memory, MemoryPrefix]]
    next_page: Optional[str]


class DeletedMemory(BaseModel):
    type: Literal["memory_deleted"]
    id: str


class SessionActor(BaseModel):
    type: Literal["session_actor"]
    session_id: str


class APIActor(BaseModel):
    type: Literal["api_actor"]
    api_key_id: str


class UserActor(BaseModel):
    type: Literal["user_actor"]
    user_id: str


class ServiceAccountActor(BaseModel):
    type: Literal["service_account_actor"]
    service_account_id: str


Actor = Union[SessionActor, APIActor, UserActor, ServiceAccountActor]


class RedactedCopy(BaseModel):
    memory_store_id: str = Field(description="the branch's own store id")
    memory_version_id: str


class MemoryVersion(BaseModel):
    type: Literal["memory_version"]
    id: str
    memory_id: str
    memory_store_id: str
    operation: Literal["created", "modified", "deleted"]
    path: Optional[str]
    content: Optional[str]
    content_sha256: Optional[str]
    content_size_bytes: Optional[int]
    created_by: Optional[Actor]
    created_at: Time
    redacted_at: Optional[Time]
    redacted_by: Optional[Actor]
    agent_id: Optional[str] = Field(description="memfs: the agent that wrote it")
    session_id: Optional[str] = Field(description="memfs: the session it was written in")
    merged_from_version_id: Optional[str] = Field(None, description="memfs: for a merge's version, the branch's "
                                                  "version it brought in (memver_…)")
    redacted_copies: Optional[List[RedactedCopy]] = Field(
        None, description="memfs: in the answer to a redaction, the copies of the content in the store's branches "
                          "redacted with it")


class MemoryVersionList(BaseModel):
    data: List[MemoryVersion]
    next_page: Optional[str]


class ErrorDetail(BaseModel):
    type: str
    message: str
    conflicting_memory_id: Optional[str] = None


class ErrorEnvelope(BaseModel):
    type: Literal["error"]
    error: ErrorDetail
    request_id: str
