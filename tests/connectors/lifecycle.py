"""A stand-in for SageMaker's ``ModelLifeCycle`` at the one boundary moto cannot play.

moto 5.2.5 (checked in its source: ``moto/sagemaker/responses.py`` reads no ``ModelLifeCycle`` in
``create_model_package`` / ``update_model_package``, and its describe and list answers carry none; the upstream
snapshot of August 2026 neither) ignores the field. :class:`LifeCycleStandIn` sits in the fault proxy in front of
moto: it remembers the ``ModelLifeCycle`` a request sends, per package ARN, and adds it to ``DescribeModelPackage``
and ``ListModelPackages`` answers, as AWS returns it. Everything else is moto's real answer.
"""

from __future__ import annotations

import threading
from typing import Any


class LifeCycleStandIn:
    """What AWS would keep of ``ModelLifeCycle``, on the requests and answers passing the fault proxy."""

    def __init__(self, proxy: Any) -> None:
        self.stages: dict[str, dict[str, str]] = {}
        self._pending: list[dict[str, str] | None] = []
        self._lock = threading.Lock()
        proxy.on_request("UpdateModelPackage", self._update)
        proxy.on_request("CreateModelPackage", self._create)
        proxy.rewrite("CreateModelPackage", self._created)
        proxy.rewrite("DescribeModelPackage", self._describe)
        proxy.rewrite("ListModelPackages", self._list)

    def _update(self, body: dict) -> None:
        if body.get("ModelLifeCycle"):
            with self._lock:
                self.stages[body["ModelPackageArn"]] = dict(body["ModelLifeCycle"])

    def _create(self, body: dict) -> None:
        with self._lock:
            self._pending.append(dict(body["ModelLifeCycle"]) if body.get("ModelLifeCycle") else None)

    def _created(self, answer: dict) -> dict:
        with self._lock:
            stage = self._pending.pop(0) if self._pending else None
            if stage:
                self.stages[answer["ModelPackageArn"]] = stage
        return answer

    def _describe(self, answer: dict) -> dict:
        stage = self.stages.get(answer.get("ModelPackageArn", ""))
        return {**answer, "ModelLifeCycle": stage} if stage else answer

    def _list(self, answer: dict) -> dict:
        for summary in answer.get("ModelPackageSummaryList") or []:
            stage = self.stages.get(summary.get("ModelPackageArn", ""))
            if stage:
                summary["ModelLifeCycle"] = stage
        return answer
