"""OpenAPI 3.1 schema generated from the code.

API views declare themselves with @api_operation; the schema walks the URL patterns and reads
that metadata, so the document cannot drift from what is routed. Request and response bodies are
pydantic models, turned into JSON Schema by pydantic itself.
"""

import re
from dataclasses import dataclass, field

from django.urls import URLPattern, URLResolver, get_resolver
from pydantic import BaseModel

# No C0 or C1 control character (Unicode category Cc): the rule ControlCharacterMiddleware enforces
# on every query parameter and the ingest schemas on every string, said where a client can read it.
NO_CONTROL_CHARACTERS = "^[^\\x00-\\x1f\\x7f-\\x9f]*$"
_PATH_CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")
_PATH_PARAMETER = re.compile(r"<(?:(\w+):)?(\w+)>")
# JSON Schema of the values each Django path converter accepts, so that a client (or a fuzzer)
# that follows the schema always reaches the view rather than the router's plain 404.
_CONVERTER_SCHEMAS = {
    "int": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
    "slug": {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$"},
    "str": {"type": "string", "pattern": "^[^/]+$"},
}


@dataclass(frozen=True)
class Query:
    """A query parameter: a description, whether it is required, and its JSON Schema."""

    description: str
    required: bool = False
    enum: tuple[str, ...] | None = None
    format: str | None = None  # e.g. "date": YYYY-MM-DD
    pattern: str | None = None  # a JSON Schema (ECMA) pattern the value must match

    def schema(self) -> dict:
        schema: dict = {"type": "string"}
        if self.enum is not None:
            schema["enum"] = list(self.enum)
        if self.format is not None:
            schema["format"] = self.format
        if self.pattern is not None:
            schema["pattern"] = self.pattern
        elif self.enum is None and self.format is None:
            # An enum or a format already rules out control characters.
            schema["pattern"] = NO_CONTROL_CHARACTERS
        return schema


class ErrorBody(BaseModel):
    """Every error answer of the API that has a body."""

    error: str
    details: list[dict]


# Answers without a JSON body (Django's own): the schema says so, so that no client expects one.
_BODYLESS = {405}


@dataclass
class Operation:
    method: str
    summary: str
    tag: str
    query: dict[str, "Query | str"] = field(default_factory=dict)  # name -> parameter
    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    auth: str = "user"  # "user" (session or personal token), "collector" or "none" (public)
    statuses: dict[int, str] = field(default_factory=dict)  # extra status -> description
    # A request body schema given as JSON Schema (for bodies no pydantic model describes).
    request_schema: dict | None = None


def api_operation(**kwargs):
    """Attach OpenAPI metadata to a view; several decorators on one view give several methods."""

    def decorate(view):
        operations = list(getattr(view, "openapi_operations", []))
        operations.append(Operation(**kwargs))
        view.openapi_operations = operations
        return view

    return decorate


def declared_methods(view) -> list[str]:
    """The HTTP methods a view declares with @api_operation (empty for views without any)."""
    return sorted({op.method.upper() for op in getattr(view, "openapi_operations", [])})


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            operations = getattr(entry.callback, "openapi_operations", None)
            if operations:
                yield prefix + str(entry.pattern), operations


def _schema_ref(model: type[BaseModel], components: dict) -> dict:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        components[name] = definition
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def build_schema() -> dict:
    components: dict = {}
    paths: dict = {}
    for route, operations in _walk(get_resolver().url_patterns):
        path = "/" + _PATH_CONVERTER.sub(r"{\1}", route).removesuffix("$").lstrip("^")
        path_params = _PATH_PARAMETER.findall(route)
        for op in operations:
            parameters = [
                {
                    "name": name,
                    "in": "path",
                    "required": True,
                    "schema": _CONVERTER_SCHEMAS.get(converter or "str", {"type": "string"}),
                }
                for converter, name in path_params
            ]
            for name, query in op.query.items():
                if isinstance(query, str):
                    query = Query(query)
                parameters.append(
                    {
                        "name": name,
                        "in": "query",
                        "required": query.required,
                        "description": query.description,
                        "schema": query.schema(),
                    }
                )
            responses = {"200": {"description": "OK"}}
            if op.response is not None:
                responses["200"] = {
                    "description": "OK",
                    "content": {
                        "application/json": {"schema": _schema_ref(op.response, components)}
                    },
                }
            if 200 in op.statuses or 201 in op.statuses or 202 in op.statuses:
                # The success status is another one: 200 is documented only if listed.
                success = responses.pop("200")
                for status in (200, 201, 202):
                    if status in op.statuses:
                        responses[str(status)] = {**success, "description": op.statuses[status]}
            for status, text in op.statuses.items():
                if str(status) in responses:
                    continue
                if status >= 400 and status not in _BODYLESS:
                    responses[str(status)] = {
                        "description": text,
                        "content": {
                            "application/json": {"schema": _schema_ref(ErrorBody, components)}
                        },
                    }
                else:
                    responses[str(status)] = {"description": text}
            # Every API path answers an undeclared method so (greenai_site.middleware).
            responses.setdefault(
                "405",
                {
                    "description": "Method not allowed (the Allow header names "
                    f"{', '.join(sorted({o.method.upper() for o in operations}))})."
                },
            )
            responses["405"]["headers"] = {
                "Allow": {
                    "description": "The methods this path declares.",
                    "required": True,
                    "schema": {"type": "string"},
                }
            }
            operation = {
                "summary": op.summary,
                "tags": [op.tag],
                "parameters": parameters,
                "responses": responses,
                "security": {
                    "collector": [{"collectorToken": []}],
                    "none": [],  # public, e.g. the schema itself
                    # The token first: it is how programs call the API (and the credential a
                    # client such as Schemathesis is told to send).
                }.get(op.auth, [{"personalToken": []}, {"sessionCookie": []}]),
            }
            if op.request is not None or op.request_schema is not None:
                body_schema = (
                    op.request_schema
                    if op.request_schema is not None
                    else _schema_ref(op.request, components)
                )
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": body_schema}},
                }
            paths.setdefault(path, {})[op.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "GreenAI API", "version": "1"},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": components,
            "securitySchemes": {
                "collectorToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Collector token (manage.py createcollector).",
                },
                "personalToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Personal API token of a user.",
                },
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "sessionid"},
            },
        },
    }
