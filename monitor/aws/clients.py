"""AWS clients for the sources and sinks: one aiobotocore session, clients created once, closed on shutdown.

Credentials come from the standard chain only (environment, shared files,
IRSA web identity, instance profile); the config never holds keys. With
`role_arn`, the client's credentials come from STS AssumeRole and refresh
before they expire (the cross-account pattern).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.credentials import AioRefreshableCredentials
from aiobotocore.session import AioSession, get_session

from monitor.aws.settings import AwsSettings

SESSION_NAME = "trailsentry"


class AwsClients:
    """Creates each (service, settings) client once; `close()` exits them all."""

    def __init__(self, session: AioSession | None = None) -> None:
        self._session = session or get_session()
        self._stack = contextlib.AsyncExitStack()
        self._clients: dict[tuple[str, AwsSettings, str], Any] = {}
        self._role_sessions: dict[AwsSettings, AioSession] = {}
        # Sources start together; without the lock two could create (and assume a role for) the same client.
        self._lock = asyncio.Lock()

    async def client(self, service: str, settings: AwsSettings, *, config: AioConfig | None = None,
                     variant: str = "") -> Any:
        """A shared client. `variant` separates clients that need a different `config`."""
        key = (service, settings, variant)
        existing = self._clients.get(key)
        if existing is not None:
            return existing
        async with self._lock:
            return await self._create(key, config)

    async def _create(self, key: tuple[str, AwsSettings, str], config: AioConfig | None) -> Any:
        existing = self._clients.get(key)
        if existing is not None:
            return existing
        service, settings, _ = key
        session = await self._session_for(settings)
        created = await self._stack.enter_async_context(
            session.create_client(service, region_name=settings.region, endpoint_url=settings.endpoint_url,
                                  config=config)
        )
        self._clients[key] = created
        return created

    async def _session_for(self, settings: AwsSettings) -> AioSession:
        if settings.role_arn is None:
            return self._session
        cached = self._role_sessions.get(settings)
        if cached is not None:
            return cached
        base = AwsSettings(region=settings.region, endpoint_url=settings.endpoint_url)
        sts = await self._create(("sts", base, ""), None)  # the lock is held

        async def refresh() -> dict[str, str]:
            arguments: dict[str, Any] = {"RoleArn": settings.role_arn, "RoleSessionName": SESSION_NAME}
            if settings.external_id:
                arguments["ExternalId"] = settings.external_id
            response = await sts.assume_role(**arguments)
            credentials = response["Credentials"]
            expiry = credentials["Expiration"]
            if isinstance(expiry, datetime):
                expiry = expiry.astimezone(UTC).isoformat()
            return {
                "access_key": credentials["AccessKeyId"],
                "secret_key": credentials["SecretAccessKey"],
                "token": credentials["SessionToken"],
                "expiry_time": str(expiry),
            }

        credentials = AioRefreshableCredentials.create_from_metadata(
            metadata=await refresh(), refresh_using=refresh, method="sts-assume-role"
        )
        session = get_session()
        session._credentials = credentials
        self._role_sessions[settings] = session
        return session

    async def close(self) -> None:
        await self._stack.aclose()
        self._clients.clear()
        self._role_sessions.clear()
