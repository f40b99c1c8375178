"""The SDK's typed endpoint methods, one line each (`flux_dev = typed(FluxDevInputs)`): the
endpoint is the catalog's record of that method name, checked when the class is built, so the
route, the request model and the method cannot disagree. Statically typed: `client.flux_dev`
takes a `FluxDevInputs` (or its fields) and returns what the client's calls return."""

from __future__ import annotations

import types
from typing import Any, Generic, Protocol, TypeVar, overload

from pydantic import BaseModel

from fluxhost import catalog

M = TypeVar("M", bound=BaseModel)
M_contra = TypeVar("M_contra", bound=BaseModel, contravariant=True)
S = TypeVar("S")
S_co = TypeVar("S_co", covariant=True)


class Submits(Protocol[S_co]):
    """A client: submits a checked body to an endpoint, returning a `Submission` (or an
    awaitable of one)."""

    def _submit_model(self, endpoint: str, inputs: BaseModel | None,
                      fields: dict[str, Any]) -> S_co: ...


class SubmitMethod(Protocol[M_contra, S_co]):
    def __call__(self, inputs: M_contra | None = None, /, **fields: Any) -> S_co: ...


class TypedEndpoint(Generic[M]):
    """A typed method: validates its fields with the endpoint's wire model, then submits."""

    def __init__(self, model: type[M]) -> None:
        self.model = model
        self.endpoint = ""
        self.__name__ = ""

    def __set_name__(self, owner: type, name: str) -> None:
        record = next((e for e in catalog.ENDPOINTS if e.method == name), None)
        if record is None or record.model is not self.model:
            raise TypeError(f"{owner.__name__}.{name}: the catalog has no endpoint of that "
                            f"method with body {self.model.__name__}")
        self.endpoint, self.__name__ = record.name, name
        refs = record.reference_fields
        self.__doc__ = f"POST {record.path} (body: {self.model.__name__})." + (
            f" `references=[image, ...]` fills {refs[0]} ... {refs[-1]} in order (at most "
            f"{len(refs)}); an image is bytes, a Path, a PIL image, base64 or an http(s) URL "
            "the server fetches." if refs else "")

    @overload
    def __get__(self, client: None, owner: type) -> TypedEndpoint[M]: ...

    @overload
    def __get__(self, client: Submits[S], owner: type) -> SubmitMethod[M, S]: ...

    def __get__(self, client: Submits[S] | None, owner: type) -> Any:
        return self if client is None else types.MethodType(self, client)

    def __call__(self, client: Submits[S], inputs: M | None = None, /, **fields: Any) -> S:
        return client._submit_model(self.endpoint, inputs, fields)


def typed(model: type[M]) -> TypedEndpoint[M]:
    return TypedEndpoint(model)
