from herald.delivery.ledger import LedgerColumns
from herald.kit.db import HeraldBase, service_metadata


class Base(HeraldBase):
    __abstract__ = True
    metadata = service_metadata()


class PushDelivery(LedgerColumns, Base):
    __tablename__ = "push_deliveries"
