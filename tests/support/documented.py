"""The providers' own published examples, as their documentation prints them: what tilework
reads as a client and what it serves are both checked against these, so a misreading shared
by both sides cannot pass. (fal publishes no signed webhook to check against: its Ed25519
verification is checked against RFC 8032's test vector, tests/unit/webhooks/test_fal_signing.py.)"""

from __future__ import annotations

from typing import Any

# As the documentation prints it.
REPLICATE_PREDICTION: dict[str, Any] = {
    "id": "gm3qorzdhgbfurvjtvhg6dckhu",
    "model": "replicate/hello-world",
    "version": "5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa",
    "input": {"text": "Alice"},
    "logs": "",
    "output": "hello Alice",
    "error": None,
    "status": "succeeded",
    "created_at": "2023-09-08T16:19:34.765994Z",
    "data_removed": False,
    "started_at": "2023-09-08T16:19:34.779176Z",
    "completed_at": "2023-09-08T16:19:34.791859Z",
    "metrics": {"predict_time": 0.012683, "total_time": 0.025366},
    "urls": {
        "cancel": "https://api.replicate.com/v1/predictions/gm3qorzdhgbfurvjtvhg6dckhu/cancel",
        "get": "https://api.replicate.com/v1/predictions/gm3qorzdhgbfurvjtvhg6dckhu",
    },
}

# fal's documented image result, with illustrative values.
FAL_RESULT: dict[str, Any] = {
    "images": [
        {
            "url": "https://v3.fal.media/files/rabbit/abc.jpeg",
            "width": 1024,
            "height": 768,
            "content_type": "image/jpeg",
        }
    ],
    "prompt": "a red fox",
    "seed": 42,
    "timings": {"inference": 1.25},
    "has_nsfw_concepts": [False],
}

# The Standard Webhooks specification's test vector. Replicate signs its webhooks by that
# specification (replicate.com/docs/topics/webhooks/verify-webhook).
SIGNED_WEBHOOK: dict[str, Any] = {
    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "headers": {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    },
    "body": b'{"test": 2432232314}',
}
