"""Ops basics of a real service process: JSON logs carry the request id of the request they belong to."""

import json

import httpx

from crm_shared.testing import ServerProcess, user_headers


def test_json_logs_carry_the_request_id(db_url):
    proc = ServerProcess(
        "crm_customer.main:create_app",
        {"CUSTOMER_DATABASE_URL": db_url, "CUSTOMER_LOG_LEVEL": "INFO", "CUSTOMER_ACCESS_LOG": "true"},
    )
    try:
        proc.wait_ready()
        r = httpx.get(
            proc.url + "/api/v1/customers/8b6f7c4e-1d8a-4c1e-9a7e-2b4a3f5d6c7b",
            headers={"X-Request-ID": "0123456789abcdef0123456789abcdef", **user_headers("u1", "customers:read")},
        )
        assert r.status_code == 404
        assert r.headers["x-request-id"] == "0123456789abcdef0123456789abcdef"
        generated = httpx.get(proc.url + "/healthz").headers["x-request-id"]
        assert len(generated) == 32
    finally:
        output = proc.output()
        proc.stop()
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert all({"time", "level", "logger", "message", "request_id", "service"} <= set(line) for line in lines)
    access = [line for line in lines if line["logger"] == "uvicorn.access" and "/api/v1/customers/" in line["message"]]
    assert [line["request_id"] for line in access] == ["0123456789abcdef0123456789abcdef"]
    assert all(line["service"] == "customer" for line in lines)


def test_openapi_documents_problem_json_everywhere():
    from crm_customer.main import create_app

    spec = create_app().openapi()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert {"Problem", "FieldError", "OrderIn", "OrderBatchIn"} <= set(spec["components"]["schemas"])
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            for code, response in op["responses"].items():
                if code.startswith(("4", "5")):
                    assert "application/problem+json" in response["content"], (method, path, code)
            assert "4XX" in op["responses"]
    batch = spec["paths"]["/api/v1/orders/batch"]["post"]
    assert batch["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/OrderBatchIn"
    }
