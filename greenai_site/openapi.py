"""OpenAPI 3.1 schema generated from the code.

API views declare themselves with @api_operation; the schema walks the URL patterns and reads
that metadata, so the document cannot drift from what is routed. Request and response bodies are
pydantic models, turned into JSON Schema by pydantic itself.
"""

import re
from dataclasses import dataclass, field

from django.urls import URLPattern, URLResolver, get_resolver
from pydantic import BaseModel

_PATH_CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")


@dataclass
class Operation:
    method: str
    summary: str
    tag: str
    query: dict[str, str] = field(default_factory=dict)  # name -> description
    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    auth: str = "user"  # "user" (session or personal token), "collector" or "none" (public)
    statuses: dict[int, str] = field(default_factory=dict)  # extra status -> description


def api_operation(**kwargs):
    """Attach OpenAPI metadata to a view; several decorators on one view give several methods."""

    def decorate(view):
        operations = list(getattr(view, "openapi_operations", []))
        operations.append(Operation(**kwargs))
        view.openapi_operations = operations
        return view

    return decorate


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
        path_params = _PATH_CONVERTER.findall(route)
        for op in operations:
            parameters = [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in path_params
            ] + [
                {
                    "name": name,
                    "in": "query",
                    "required": False,
                    "description": text,
                    "schema": {"type": "string"},
                }
                for name, text in op.query.items()
            ]
            responses = {"200": {"description": "OK"}}
            if op.response is not None:
                responses["200"] = {
                    "description": "OK",
                    "content": {
                        "application/json": {"schema": _schema_ref(op.response, components)}
                    },
                }
            for status, text in op.statuses.items():
                responses[str(status)] = {"description": text}
            operation = {
                "summary": op.summary,
                "tags": [op.tag],
                "parameters": parameters,
                "responses": responses,
                "security": {
                    "collector": [{"collectorToken": []}],
                    "none": [],  # public, e.g. the schema itself
                }.get(op.auth, [{"sessionCookie": []}, {"personalToken": []}]),
            }
            if op.request is not None:
                operation["requestBody"] = {
                    "required": True,
                    "content": {
                        "application/json": {"schema": _schema_ref(op.request, components)}
                    },
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
