#!/usr/bin/env python3
"""An agent that takes part in a decision-mode run through the control
plane's HTTP API only (no gRPC): it polls the run and its events and posts
its messages, as the agents of a scenario registry do.

    http_agent.py BASE_URL RUN_ID PARTICIPANT ROLE [POLICY_VERSION]

ROLE is `specialist` (answers the proposal with an Evaluation) or
`coordinator` (waits for every specialist's Evaluation or Objection, then
sends a Vote and the Commitment, with fields the Commitment's protobuf
type does not have, as real clients send them). Exit code: 0 when the
run's decision is finalized, 3 when the policy denied the Commitment,
1 on anything else. Standard library only.
"""

import json
import sys
import time
import urllib.error
import urllib.request

DEADLINE = time.monotonic() + 60


def call(method, url, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


class Run:
    def __init__(self, base, run_id):
        self.base, self.run_id = base, run_id
        self.events, self.after = [], 0

    def status(self):
        return call("GET", f"{self.base}/runs/{self.run_id}")[1].get("status")

    def poll(self):
        """Reads the events after the last one seen, as agents page them."""
        status, page = call(
            "GET", f"{self.base}/runs/{self.run_id}/events?afterSeq={self.after}&limit=200"
        )
        if status == 200 and page:
            self.events.extend(page)
            self.after = page[-1]["seq"]
        return self.events

    def send(self, sender, message_type, payload=None, envelope=None):
        body = {"from": sender, "messageType": message_type}
        if envelope is not None:
            body["payloadEnvelope"] = envelope
        else:
            body["payload"] = payload
        status, answer = call("POST", f"{self.base}/runs/{self.run_id}/messages", body)
        print(f"{sender} {message_type} -> {status} {json.dumps(answer)}", flush=True)
        return status, answer

    def wait(self, found, what):
        while time.monotonic() < DEADLINE:
            hit = found(self.poll())
            if hit is not None:
                return hit
            time.sleep(0.1)
        sys.exit(f"gave up waiting for {what}")


def proposal(events):
    """The first event whose data.messageType is Proposal: its proposal id
    (payload or decodedPayload, either spelling, else the subject) and
    its sender."""
    for event in events:
        data = event.get("data") or {}
        if data.get("messageType") != "Proposal":
            continue
        for key in ("payload", "decodedPayload"):
            payload = data.get(key) or {}
            pid = payload.get("proposal_id") or payload.get("proposalId")
            if pid:
                return pid, data.get("sender")
        return (event.get("subject") or {}).get("id"), data.get("sender")
    return None


def main():
    base, run_id, me, role = sys.argv[1:5]
    policy_version = sys.argv[5] if len(sys.argv) > 5 else "policy.default"
    run = Run(base, run_id)
    while run.status() != "running":
        if time.monotonic() > DEADLINE:
            sys.exit("the run never ran")
        time.sleep(0.1)
    proposal_id, proposer = run.wait(proposal, "a proposal")
    print(f"{me}: proposal {proposal_id} from {proposer}", flush=True)

    if role == "specialist":
        status, _ = run.send(me, "Evaluation", {
            "proposalId": proposal_id, "recommendation": "APPROVE",
            "confidence": 0.8, "reason": f"{me} finds no blocker"})
        return 0 if status == 200 else 1

    specialists = set(sys.argv[6].split(",")) if len(sys.argv) > 6 else set()

    def answered(events):
        senders = {
            (e.get("data") or {}).get("sender")
            for e in events
            if (e.get("data") or {}).get("messageType") in ("Evaluation", "Objection")
        }
        return senders if specialists <= senders else None

    run.wait(answered, "every specialist's answer")
    run.send(me, "Vote", {"proposalId": proposal_id, "vote": "APPROVE", "reason": "all approve"})
    run.send(me, "Commitment", envelope={
        "encoding": "proto",
        "proto": {"typeName": "macp.v1.CommitmentPayload", "value": {
            "commitment_id": "c-1", "action": "ship", "authority_scope": "release",
            "reason": "the specialists approve", "mode_version": "1.0.0",
            "configuration_version": "config.default", "policy_version": policy_version,
            "outcome_positive": True,
            # Fields CommitmentPayload does not have, as real clients send them.
            "designated_roles": ["coordinator"], "veto_threshold": 1,
            "minimum_confidence": 0.7}}})

    def outcome(events):
        for event in events:
            if event["type"] in ("decision.finalized", "policy.denied",
                                 "policy.commitment.evaluated"):
                return event["type"]
        return None

    seen = run.wait(outcome, "the policy's verdict")
    print(f"{me}: {seen}", flush=True)
    return {"decision.finalized": 0, "policy.denied": 3}.get(seen, 1)


if __name__ == "__main__":
    sys.exit(main())
