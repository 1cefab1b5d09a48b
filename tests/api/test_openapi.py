"""The OpenAPI document says what the API answers: keys are a bearer scheme, and every route
that takes one documents its 401 with the body the route really answers with."""

from __future__ import annotations

from typing import Any

from tests.support.api import InProcessApi


def required_fields(document: dict[str, Any], reference: str) -> set[str]:
    name = reference.rsplit("/", 1)[1]
    return set(document["components"]["schemas"][name]["required"])


def test_every_route_that_takes_a_key_documents_its_401_as_answered(api: InProcessApi) -> None:
    document = api.http.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    checked = 0
    with api.anonymous() as anyone:
        for path, methods in document["paths"].items():
            for method, operation in methods.items():
                if operation.get("security") not in ([{"bearer": []}], [{"falKey": []}]):
                    continue
                declared = operation["responses"]["401"]["content"]["application/json"]
                concrete = path.replace("{", "").replace("}", "")
                answer = anyone.request(method, concrete)
                assert answer.status_code == 401, (method, path)
                fields = required_fields(document, declared["schema"]["$ref"])
                assert fields <= set(answer.json()), (method, path, answer.text)
                checked += 1
    assert checked >= 36
    assert document["components"]["securitySchemes"]["falKey"]["name"] == "Authorization"
    # Routes that authenticate otherwise declare no key.
    assert "security" not in document["paths"]["/v1/objects/{key}"]["get"]
    assert "security" not in document["paths"]["/healthz"]["get"]
    assert "security" not in document["paths"]["/fal/storage/upload/{file_id}"]["put"]


def test_fastapis_own_validation_error_is_not_documented(api: InProcessApi) -> None:
    """This API answers invalid requests with its own bodies, never FastAPI's."""
    document = api.http.get("/openapi.json").json()
    assert "HTTPValidationError" not in str(document)


def test_a_job_is_one_of_the_registered_operations_with_its_params(api: InProcessApi) -> None:
    schemas = api.http.get("/openapi.json").json()["components"]["schemas"]
    registry = api.services.registry
    mapping = schemas["JobCreate"]["discriminator"]["mapping"]
    assert sorted(mapping) == registry.names()
    examples = 0
    for name, reference in mapping.items():
        variant = schemas[reference.rsplit("/", 1)[1]]
        assert variant["properties"]["operation"]["const"] == name
        params = schemas[variant["properties"]["params"]["$ref"].rsplit("/", 1)[1]]
        assert set(params["properties"]) == set(registry.get(name).Params.model_fields)
        for example in variant.get("examples", []):
            registry.get(name).validate(example["params"])  # every example is a valid job
            examples += 1
    assert examples >= 5
