"""Branches over HTTP, under `/v1/memfs/stores/{memory_store_id}/branches`: list, create, show
(with what a merge would do now), diff, merge, discard. A branch is reached through its store,
with the key's access to that store (404 outside its scope, 403 for a write with read-only
access); each route is a few lines over one store-API call."""

from __future__ import annotations

from typing import Optional, Union

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from .. import errors
from ..store import MergeConflicts
from . import render


class BranchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    at_rev: Optional[int] = Field(None, ge=0, le=2**63 - 1)


class BranchMerge(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dry_run: bool = False
    clean_only: bool = False
    # a list of paths, or "*" for every conflict
    ours: Union[list[str], str, None] = None
    theirs: Union[list[str], str, None] = None


def branch_json(m, b) -> dict:
    return {"type": "memfs_branch", "name": b.name, "ref": b.ref, "memory_store_id": b.parent.uid,
            "branch_store_id": b.store.uid, "status": b.status, "base_rev": b.base_rev, "fork_rev": b.fork_rev,
            "created_at": render.ts(b.store.created_at), "ended_at": render.ts(b.ended_at),
            "files": m.usage(b.store)["files"]}


def report_json(m, rep) -> dict:
    return {"type": "memfs_merge", **rep.to_dict(), "diff": m.merge_diff(rep) if rep.dry_run else None}


def _resolution(body: BranchMerge):
    take, resolve = None, {}
    for how in ("ours", "theirs"):
        v = getattr(body, how)
        if v == "*":
            if take:
                raise errors.InvalidInput("ours and theirs cannot both settle every conflict")
            take = how
        elif isinstance(v, str):
            raise errors.InvalidInput(f"{how}: a list of paths, or \"*\" for every conflict")
        else:
            for p in v or []:
                if p in resolve:
                    raise errors.InvalidInput(f"{p} is given to both ours and theirs")
                resolve[p] = how
    return resolve, take


def add_routes(app: FastAPI, ctx) -> None:
    B = "/v1/memfs/stores/{memory_store_id}/branches"
    tags = ["memfs branches"]

    def branch(c, memory_store_id: str, name: str, write: bool = False):
        s = c.store(memory_store_id, write=write)
        try:
            return c.m.branch(s, name)
        except errors.NotFound:
            raise errors.NotFound(f"memory store {memory_store_id} has no branch {name!r}") from None

    @app.get(B, response_model=None, tags=tags)
    def list_branches(request: Request, memory_store_id: str, include_closed: bool = True):
        """The store's branches, oldest first (time-travel copies are not listed)."""
        c = ctx(request)
        s = c.store(memory_store_id)
        return {"data": [branch_json(c.m, b) for b in c.m.branches(s, include_closed=include_closed)]}

    @app.post(B, response_model=None, tags=tags, status_code=201)
    def create_branch(request: Request, memory_store_id: str, body: BranchCreate):
        """Branch the store as it is now (or at revision `at_rev`)."""
        c = ctx(request)
        s = c.store(memory_store_id, write=True)
        with c.writing:
            b = c.m.create_branch(s, body.name, rev=body.at_rev, identity=c.identity)
        return branch_json(c.m, b)

    @app.get(B + "/{name}", response_model=None, tags=tags)
    def get_branch(request: Request, memory_store_id: str, name: str):
        """A branch, with what merging it would do now (`merge`: every file, conflicts marked)."""
        c = ctx(request)
        b = branch(c, memory_store_id, name)
        out = branch_json(c.m, b)
        if b.status == "open":
            plan, _ = c.m.plan_merge(b.store)
            out["merge"] = [f.to_dict() for f in plan.files]
        return out

    @app.get(B + "/{name}/diff", response_model=None, tags=tags)
    def branch_diff(request: Request, memory_store_id: str, name: str):
        """The branch's own changes since it started, as a unified diff."""
        c = ctx(request)
        b = branch(c, memory_store_id, name)
        return {"ref": b.ref, "diff": c.m.branch_diff(b.store)}

    @app.post(B + "/{name}/merge", response_model=None, tags=tags)
    def merge_branch(request: Request, memory_store_id: str, name: str, body: BranchMerge):
        """Merge the branch into its store (dry_run: the report and the store's diff, nothing
        written). Unsettled conflicts: 409 merge_conflict_error with the report, nothing applied."""
        c = ctx(request)
        b = branch(c, memory_store_id, name, write=not body.dry_run)
        resolve, take = _resolution(body)
        try:
            if body.dry_run:
                rep = c.m.merge_branch(b.store, resolve=resolve, take=take, dry_run=True)
            else:
                with c.writing:
                    rep = c.m.merge_branch(b.store, resolve=resolve, take=take, clean_only=body.clean_only,
                                           identity=c.identity)
        except MergeConflicts as e:
            return JSONResponse({"type": "error", "error": {"type": e.error_type, "message": e.message},
                                 "report": report_json(c.m, e.report)}, status_code=409,
                                headers={"x-should-retry": "false"})
        return report_json(c.m, rep)

    @app.post(B + "/{name}/discard", response_model=None, tags=tags)
    def discard_branch(request: Request, memory_store_id: str, name: str):
        """Close the branch without merging; the store is unchanged."""
        c = ctx(request)
        b = branch(c, memory_store_id, name, write=True)
        with c.writing:
            b = c.m.discard_branch(b.store)
        return branch_json(c.m, b)
