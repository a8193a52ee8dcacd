from herald.kit.migrations import run_env
from herald.services.push_worker.models import Base

run_env(Base.metadata)
