"""What a route gets from the process: the wiring root's context, its database and settings.

The application built by ``qai.api.create_app`` keeps its :class:`qai.context.AppContext` in
``app.state.context``; routes declare what they need with these dependencies instead of reading
a global.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from qai.db import Database
from qai.llm import Models
from qai.settings import Settings

if TYPE_CHECKING:
    from qai.context import AppContext


def context_of(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


def database_of(request: Request) -> Database:
    return context_of(request).database


def settings_of(request: Request) -> Settings:
    return context_of(request).settings


def models_of(request: Request) -> Models:
    return context_of(request).models


DatabaseDep = Annotated[Database, Depends(database_of)]
SettingsDep = Annotated[Settings, Depends(settings_of)]
ModelsDep = Annotated[Models, Depends(models_of)]
