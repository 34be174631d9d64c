"""Many clients at once: requests that create and destroy tokens from several server threads stay consistent."""

from concurrent.futures import ThreadPoolExecutor

from helpers import describe, new_cluster


def test_concurrent_clients_do_not_crash_or_corrupt(sim):
    def worker(index: int) -> tuple[str, str]:
        client = sim.client("cloudhsmv2", account=f"{index:012d}")
        cluster_id = new_cluster(client)
        hsm_id = client.create_hsm(ClusterId=cluster_id, AvailabilityZone="us-east-1a")["Hsm"]["HsmId"]
        for _ in range(3):
            assert describe(client, cluster_id)["ClusterId"] == cluster_id
        if index % 2:
            client.delete_hsm(ClusterId=cluster_id, HsmId=hsm_id)
        return cluster_id, hsm_id

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(worker, range(1, 17)))

    sim.advance(0)  # applies the due removals of the deleted HSMs
    tokens = sim.tokens()
    for index, (cluster_id, hsm_id) in enumerate(results, start=1):
        client = sim.client("cloudhsmv2", account=f"{index:012d}")
        hsms = describe(client, cluster_id)["Hsms"]
        if index % 2:
            assert hsms == [] and hsm_id not in tokens
        else:
            assert [h["HsmId"] for h in hsms] == [hsm_id] and hsm_id in tokens
            assert describe(client, cluster_id)["Certificates"]["ClusterCsr"].startswith("-----BEGIN CERTIFICATE REQUEST-----")
    assert len(tokens) == 2 + 8  # the root CA and KMS domain-key tokens, and the HSMs that were kept
    status, health = sim.control("GET", "/_hsmsim/health")
    assert status == 200 and health["status"] == "ok"
