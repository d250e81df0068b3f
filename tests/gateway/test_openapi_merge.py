"""Merging service documents: ownership by prefix, shared and renamed components, rewritten refs."""

from __future__ import annotations

from crm_gateway.openapi import merge_documents


def _doc(paths: dict, schemas: dict) -> dict:
    return {"openapi": "3.1.0", "paths": paths, "components": {"schemas": schemas}}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _get(operation_id: str, schema: str) -> dict:
    return {"get": {"operationId": operation_id, "responses": {"200": {"content": {"x": {"schema": _ref(schema)}}}}}}


def test_clashing_components_are_renamed_and_refs_follow() -> None:
    money = {"type": "object", "properties": {"amount": {"type": "string"}}}
    a = _doc(
        {
            "/api/v1/a/{id}": {
                "get": {"operationId": "get_item", "responses": {"200": {"content": {"x": {"schema": _ref("Item")}}}}}
            }
        },
        {"Item": {"properties": {"price": _ref("Money")}}, "Money": money},
    )
    # b's Money differs, so b's Item (identical text, but pointing to b's Money) must be renamed too.
    b = _doc(
        {
            "/api/v1/b": {
                "get": {"operationId": "get_item", "responses": {"200": {"content": {"x": {"schema": _ref("Item")}}}}}
            },
            "/healthz": {"get": {}},
        },
        {"Item": {"properties": {"price": _ref("Money")}}, "Money": {"type": "integer"}},
    )
    merged = merge_documents(
        {"a": a, "b": b}, {"a": ["/api/v1/a"], "b": ["/api/v1/b"]}, title="t", version="1", missing=[]
    )
    schemas = merged["components"]["schemas"]
    assert set(schemas) == {"Item", "Money", "BItem", "BMoney"}
    assert schemas["BItem"]["properties"]["price"] == _ref("BMoney")
    assert schemas["Item"]["properties"]["price"] == _ref("Money")
    b_get = merged["paths"]["/api/v1/b"]["get"]
    assert b_get["responses"]["200"]["content"]["x"]["schema"] == _ref("BItem")
    assert b_get["operationId"] == "b_get_item"  # operation ids stay unique
    assert "/healthz" not in merged["paths"]


def test_identical_components_are_shared() -> None:
    shared = {"Problem": {"properties": {"detail": {"type": "string"}}}}
    a = _doc({"/api/v1/a": {"get": {"responses": {"404": {"schema": _ref("Problem")}}}}}, dict(shared))
    b = _doc({"/api/v1/b": {"get": {"responses": {"404": {"schema": _ref("Problem")}}}}}, dict(shared))
    merged = merge_documents(
        {"a": a, "b": b}, {"a": ["/api/v1/a"], "b": ["/api/v1/b"]}, title="t", version="1", missing=["c"]
    )
    assert set(merged["components"]["schemas"]) == {"Problem"}
    assert "c" in merged["info"]["description"]
