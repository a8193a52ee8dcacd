"""The two clients: ``AsyncHerald`` for asyncio code, ``Herald`` for everything else,
with the same surface. ``Herald`` runs an ``AsyncHerald`` on an event loop of its own,
in a thread it starts, so that a blocking caller shares one connection pool and one
set of retries with the asynchronous one: each of its methods is the asynchronous
method, waited for."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import Future
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

import httpx

from herald_client import resources as r
from herald_client._transport import DEFAULT_TIMEOUT, Transport

P = ParamSpec("P")
R = TypeVar("R")
A = TypeVar("A", bound=r.Resource)


class AsyncHerald:
    """``AsyncHerald("http://localhost:8000", api_key="hk_…")``; a user's token from
    ``auth.login`` works in place of a key."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retries: int = 3,
        backoff: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._transport = Transport(
            base_url,
            api_key,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            transport=transport,
        )
        self.notifications = r.Notifications(self._transport)
        self.topics = r.Topics(self._transport)
        self.webhooks = r.Webhooks(self._transport)
        self.suppressions = r.Suppressions(self._transport)
        self.users = r.Users(self._transport)
        self.auth = r.Auth(self._transport)
        self.templates = r.Templates(self._transport)
        self.push = r.Push(self._transport)

    def __repr__(self) -> str:
        return f"AsyncHerald({self._transport.base_url!r})"

    async def close(self) -> None:
        await self._transport.close()

    async def __aenter__(self) -> AsyncHerald:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()


class _Loop:
    """An event loop in a daemon thread, for the blocking client."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, work: Coroutine[Any, Any, R]) -> R:
        future: Future[R] = asyncio.run_coroutine_threadsafe(work, self.loop)
        return future.result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self.loop.close()


def blocking(
    method: Callable[Concatenate[A, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[_Blocking[A], P], R]:
    """The asynchronous ``method``, waited for on the client's loop."""

    def wait(self: _Blocking[A], /, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._loop.run(method(self._inner, *args, **kwargs))

    wait.__doc__ = method.__doc__
    wait.__name__ = method.__name__
    return wait


def blocking_pages(
    method: Callable[Concatenate[A, P], AsyncIterator[R]],
) -> Callable[Concatenate[_Blocking[A], P], Iterator[R]]:
    """An asynchronous iterator (of pages, of a stream's events), each item fetched on
    the loop."""

    def each(self: _Blocking[A], /, *args: P.args, **kwargs: P.kwargs) -> Iterator[R]:
        pages = method(self._inner, *args, **kwargs)
        while True:
            try:
                yield self._loop.run(_next(pages))
            except StopAsyncIteration:
                return

    each.__doc__ = method.__doc__
    return each


async def _next(pages: AsyncIterator[R]) -> R:
    return await anext(pages)


class _Blocking(Generic[A]):
    def __init__(self, inner: A, loop: _Loop) -> None:
        self._inner = inner
        self._loop = loop


class Notifications(_Blocking[r.Notifications]):
    send = blocking(r.Notifications.send)
    send_batch = blocking(r.Notifications.send_batch)
    get = blocking(r.Notifications.get)
    list = blocking(r.Notifications.list)
    every = blocking_pages(r.Notifications.every)
    cancel = blocking(r.Notifications.cancel)
    report_status = blocking(r.Notifications.report_status)


class Topics(_Blocking[r.Topics]):
    create = blocking(r.Topics.create)
    list = blocking(r.Topics.list)
    get = blocking(r.Topics.get)
    delete = blocking(r.Topics.delete)
    subscribe = blocking(r.Topics.subscribe)
    unsubscribe = blocking(r.Topics.unsubscribe)
    subscribers = blocking(r.Topics.subscribers)


class Webhooks(_Blocking[r.Webhooks]):
    create = blocking(r.Webhooks.create)
    list = blocking(r.Webhooks.list)
    get = blocking(r.Webhooks.get)
    update = blocking(r.Webhooks.update)
    delete = blocking(r.Webhooks.delete)
    rotate_secret = blocking(r.Webhooks.rotate_secret)
    test = blocking(r.Webhooks.test)
    deliveries = blocking(r.Webhooks.deliveries)
    retry = blocking(r.Webhooks.retry)


class Suppressions(_Blocking[r.Suppressions]):
    list = blocking(r.Suppressions.list)
    add = blocking(r.Suppressions.add)
    remove = blocking(r.Suppressions.remove)


class Devices(_Blocking[r.Devices]):
    add = blocking(r.Devices.add)
    list = blocking(r.Devices.list)
    remove = blocking(r.Devices.remove)


class Feeds(_Blocking[r.Feeds]):
    list = blocking(r.Feeds.list)
    mark = blocking(r.Feeds.mark)
    read_all = blocking(r.Feeds.read_all)
    token = blocking(r.Feeds.token)
    stream = blocking_pages(r.Feeds.stream)


class Users(_Blocking[r.Users]):
    def __init__(self, inner: r.Users, loop: _Loop) -> None:
        super().__init__(inner, loop)
        self.devices = Devices(inner.devices, loop)
        self.feed = Feeds(inner.feed, loop)

    create = blocking(r.Users.create)
    get = blocking(r.Users.get)
    update = blocking(r.Users.update)
    delete = blocking(r.Users.delete)
    list = blocking(r.Users.list)
    every = blocking_pages(r.Users.every)
    set_preferences = blocking(r.Users.set_preferences)


class Auth(_Blocking[r.Auth]):
    login = blocking(r.Auth.login)


class Templates(_Blocking[r.Templates]):
    save = blocking(r.Templates.save)
    list = blocking(r.Templates.list)
    get = blocking(r.Templates.get)
    versions = blocking(r.Templates.versions)
    render = blocking(r.Templates.render)
    preview = blocking(r.Templates.preview)


class Push(_Blocking[r.Push]):
    vapid_public_key = blocking(r.Push.vapid_public_key)


class Herald:
    """``Herald("http://localhost:8000", api_key="hk_…")``: the same surface as
    ``AsyncHerald``, each call returning its result. Close it (or use ``with``) to
    stop its thread."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retries: int = 3,
        backoff: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._loop = _Loop()
        self._async = AsyncHerald(
            base_url,
            api_key,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            transport=transport,
        )
        a, loop = self._async, self._loop
        self.notifications = Notifications(a.notifications, loop)
        self.topics = Topics(a.topics, loop)
        self.webhooks = Webhooks(a.webhooks, loop)
        self.suppressions = Suppressions(a.suppressions, loop)
        self.users = Users(a.users, loop)
        self.auth = Auth(a.auth, loop)
        self.templates = Templates(a.templates, loop)
        self.push = Push(a.push, loop)

    def __repr__(self) -> str:
        return f"Herald({self._async._transport.base_url!r})"

    def close(self) -> None:
        self._loop.run(self._async.close())
        self._loop.stop()

    def __enter__(self) -> Herald:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
