async def test_healthz_and_readyz_answer_without_credential(client):
    r = await client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    r = await client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["status"] == "ready"
    assert r.headers["x-request-id"]
