"""The legacy application at work: inserts, updates and deletes at a steady, seeded pace.

Every transaction is short and commits on its own, like the old ERP's screens and batch jobs.
Each committed row change is recorded as an `Applied` (in commit order: one connection), so
tests and benchmarks can compare what was written with what arrived in Kafka.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Generic, TypeVar

import asyncpg

from legacy.schema import SCHEMA_CHANGE_COLUMN, LegacySchema, add_column, columns

WAREHOUSES = ("BER", "HAM", "MUC", "FRA", "KOE")
CATEGORIES = ("tools", "garden", "kitchen", "office", "toys", "sports")
WORDS = ("steel", "oak", "compact", "deluxe", "eco", "pro", "mini", "smart", "classic", "nova")
ITEMS = ("hammer", "kettle", "chair", "lamp", "rake", "stapler", "ball", "drill", "mug", "desk")
CITIES = (("Berlin", "DE"), ("Vienna", "AT"), ("Zurich", "CH"), ("Lyon", "FR"), ("Turin", "IT"))
NAMES = ("Ada", "Ben", "Cleo", "Dan", "Eva", "Finn", "Greta", "Hugo", "Ines", "Jon")
SURNAMES = ("Keller", "Lang", "Meyer", "Novak", "Ortiz", "Petit", "Quinn", "Rossi", "Schmid")

# Relative weights of the legacy application's actions.
ACTIONS = {
    "new_product": 12,
    "price": 18,
    "rename": 5,
    "toggle": 5,
    "delete_product": 3,
    "stock_adjust": 25,
    "stock_add": 6,
    "stock_remove": 4,
    "new_customer": 10,
    "update_customer": 10,
    "delete_customer": 2,
}

K = TypeVar("K", bound=Hashable)


class KeyBag(Generic[K]):
    """A set with O(1) add, remove and seeded random choice (insertion-ordered, deterministic)."""

    def __init__(self) -> None:
        self._items: list[K] = []
        self._index: dict[K, int] = {}

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, item: object) -> bool:
        return item in self._index

    def add(self, item: K) -> None:
        if item not in self._index:
            self._index[item] = len(self._items)
            self._items.append(item)

    def remove(self, item: K) -> None:
        index = self._index.pop(item, None)
        if index is None:
            return
        last = self._items.pop()
        if index < len(self._items):
            self._items[index] = last
            self._index[last] = index

    def choice(self, rng: random.Random) -> K:
        return self._items[rng.randrange(len(self._items))]


@dataclass(frozen=True, slots=True)
class Applied:
    """One committed row change: table, primary key, op (c/u/d, or `alter`) and the new row."""

    table: str
    key: tuple[Any, ...]
    op: str
    after: dict[str, Any] | None
    committed_at: float
    txn: int


@dataclass
class Summary:
    """What a run did."""

    changes: int = 0
    transactions: int = 0
    elapsed: float = 0.0
    by_op: Counter[str] = field(default_factory=Counter)
    by_table: Counter[str] = field(default_factory=Counter)
    schema_changed_at: float | None = None

    @property
    def rate(self) -> float:
        """Row changes per second achieved."""
        return self.changes / self.elapsed if self.elapsed else 0.0


class Simulator:
    """Writes to the legacy tables the way the legacy ERP does, reproducibly for a seed."""

    def __init__(
        self,
        conn: asyncpg.Connection,
        where: LegacySchema | None = None,
        seed: int = 7,
        journal: list[Applied] | None = None,
    ) -> None:
        self.conn = conn
        self.where = where or LegacySchema()
        self.rng = random.Random(seed)
        self.journal = journal
        self.products: KeyBag[str] = KeyBag()
        self.inactive: KeyBag[str] = KeyBag()
        self.stock: KeyBag[tuple[str, str]] = KeyBag()
        self.stock_by_sku: dict[str, set[str]] = {}
        self.customers: KeyBag[int] = KeyBag()
        self.has_new_column = False
        self._txn = 0
        self._names = list(ACTIONS)
        self._weights = list(ACTIONS.values())

    async def load(self) -> None:
        """Read the keys that exist already (the simulator works on any prior state)."""
        t = self.where.table
        for row in await self.conn.fetch(f"SELECT sku, active FROM {t('products')} ORDER BY sku"):
            self.products.add(row["sku"])
            if not row["active"]:
                self.inactive.add(row["sku"])
        for row in await self.conn.fetch(
            f"SELECT sku, warehouse FROM {t('stock_levels')} ORDER BY sku, warehouse"
        ):
            self._stock_added(row["sku"], row["warehouse"])
        for row in await self.conn.fetch(
            f"SELECT legacy_id FROM {t('legacy_customers')} ORDER BY legacy_id"
        ):
            self.customers.add(row["legacy_id"])
        cols = await columns(self.conn, self.where, "products")
        self.has_new_column = SCHEMA_CHANGE_COLUMN in cols

    async def run(
        self,
        rate: float = 50,
        duration: float = 60,
        schema_change_at: float | None = None,
        max_changes: int | None = None,
        on_commit: Callable[[list[Applied]], None] | None = None,
    ) -> Summary:
        """Make changes at `rate` row changes/s (<= 0: as fast as possible) for `duration` s."""
        await self.load()
        summary = Summary()
        start = time.monotonic()
        while (elapsed := time.monotonic() - start) < duration:
            if max_changes is not None and summary.changes >= max_changes:
                break
            due = schema_change_at is not None and elapsed >= schema_change_at
            if due and summary.schema_changed_at is None:
                self._record([await self.alter()], summary, on_commit, count=False)
                summary.schema_changed_at = elapsed
                continue
            applied = await self.step()
            self._record(applied, summary, on_commit)
            if rate > 0:
                delay = start + summary.changes / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
        summary.elapsed = time.monotonic() - start
        return summary

    def _record(
        self,
        applied: list[Applied],
        summary: Summary,
        on_commit: Callable[[list[Applied]], None] | None,
        count: bool = True,
    ) -> None:
        if count:
            summary.changes += len(applied)
            summary.transactions += 1 if applied else 0
        for change in applied:
            summary.by_op[change.op] += 1
            if change.op != "alter":
                summary.by_table[change.table] += 1
        if self.journal is not None:
            self.journal.extend(applied)
        if on_commit is not None and applied:
            on_commit(applied)

    async def alter(self) -> Applied:
        """Apply the schema change (a new column on products) while everything keeps running."""
        await add_column(self.conn, self.where)
        await self.conn.reload_schema_state()  # cached `RETURNING *` plans have the old shape
        self.has_new_column = True
        self._txn += 1
        return Applied("products", (), "alter", None, time.time(), self._txn)

    async def step(self) -> list[Applied]:
        """One transaction of a randomly chosen action; returns its committed row changes."""
        action = self.rng.choices(self._names, self._weights)[0]
        pending: list[tuple[str, tuple[Any, ...], str, dict[str, Any] | None]] = []
        async with self.conn.transaction():
            await getattr(self, f"_{action}")(pending)
        self._txn += 1
        now = time.time()
        return [Applied(t, k, op, after, now, self._txn) for t, k, op, after in pending]

    # --- products -------------------------------------------------------------------------

    def _product_values(self) -> dict[str, Any]:
        rng = self.rng
        values: dict[str, Any] = {
            "name": f"{rng.choice(WORDS)} {rng.choice(ITEMS)}",
            "category": rng.choice(CATEGORIES),
            "unit_price": Decimal(rng.randrange(99, 99_999)) / 100,
        }
        if self.has_new_column:
            values[SCHEMA_CHANGE_COLUMN] = Decimal(rng.randrange(10, 50_000)) / 1000
        return values

    async def _new_product(self, pending: list) -> None:
        t = self.where.table
        number = await self.conn.fetchval(f"SELECT nextval('{t('product_sku_seq')}')")
        values = {"sku": f"SKU-{number:06d}", **self._product_values()}
        names = ", ".join(values)
        params = ", ".join(f"${i}" for i in range(1, len(values) + 1))
        row = await self.conn.fetchrow(
            f"INSERT INTO {t('products')} ({names}) VALUES ({params}) RETURNING *",
            *values.values(),
        )
        sku = values["sku"]
        pending.append(("products", (sku,), "c", dict(row)))
        self.products.add(sku)
        for warehouse in self.rng.sample(WAREHOUSES, self.rng.randint(1, 2)):
            await self._insert_stock(pending, sku, warehouse)

    async def _update_row(
        self, pending: list, table: str, key: tuple[str, Any], sets: dict[str, Any]
    ) -> bool:
        """UPDATE one row by its key column, touching updated_at; False when it is gone."""
        assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(sets, start=2))
        row = await self.conn.fetchrow(
            f"UPDATE {self.where.table(table)} SET {assignments}, updated_at = now() "
            f"WHERE {key[0]} = $1 RETURNING *",
            key[1],
            *sets.values(),
        )
        if row is not None:
            pending.append((table, (key[1],), "u", dict(row)))
        return row is not None

    async def _update_product(self, pending: list, sku: str, sets: dict[str, Any]) -> None:
        if not await self._update_row(pending, "products", ("sku", sku), sets):
            self.products.remove(sku)  # someone else deleted it: forget the key

    async def _price(self, pending: list) -> None:
        if not self.products:
            return await self._new_product(pending)
        sku = self.products.choice(self.rng)
        sets: dict[str, Any] = {"unit_price": Decimal(self.rng.randrange(99, 99_999)) / 100}
        if self.has_new_column and self.rng.random() < 0.5:
            sets[SCHEMA_CHANGE_COLUMN] = Decimal(self.rng.randrange(10, 50_000)) / 1000
        await self._update_product(pending, sku, sets)

    async def _rename(self, pending: list) -> None:
        if not self.products:
            return await self._new_product(pending)
        values = self._product_values()
        sets = {"name": values["name"], "category": values["category"]}
        await self._update_product(pending, self.products.choice(self.rng), sets)

    async def _toggle(self, pending: list) -> None:
        if not self.products:
            return await self._new_product(pending)
        sku = self.products.choice(self.rng)
        active = sku in self.inactive
        await self._update_product(pending, sku, {"active": active})
        if active:
            self.inactive.remove(sku)
        else:
            self.inactive.add(sku)

    async def _delete_product(self, pending: list) -> None:
        if not self.inactive:
            return await self._toggle(pending)
        sku = self.inactive.choice(self.rng)
        for warehouse in sorted(self.stock_by_sku.get(sku, ())):
            await self._delete_stock(pending, sku, warehouse)
        deleted = await self.conn.fetchval(
            f"DELETE FROM {self.where.table('products')} WHERE sku = $1 RETURNING sku", sku
        )
        if deleted is not None:
            pending.append(("products", (sku,), "d", None))
        self.products.remove(sku)
        self.inactive.remove(sku)

    # --- stock ----------------------------------------------------------------------------

    def _stock_added(self, sku: str, warehouse: str) -> None:
        self.stock.add((sku, warehouse))
        self.stock_by_sku.setdefault(sku, set()).add(warehouse)

    async def _insert_stock(self, pending: list, sku: str, warehouse: str) -> None:
        row = await self.conn.fetchrow(
            f"INSERT INTO {self.where.table('stock_levels')} (sku, warehouse, quantity) "
            "VALUES ($1, $2, $3) RETURNING *",
            sku,
            warehouse,
            self.rng.randint(0, 500),
        )
        pending.append(("stock_levels", (sku, warehouse), "c", dict(row)))
        self._stock_added(sku, warehouse)

    async def _delete_stock(self, pending: list, sku: str, warehouse: str) -> None:
        deleted = await self.conn.fetchval(
            f"DELETE FROM {self.where.table('stock_levels')} WHERE sku = $1 AND warehouse = $2 "
            "RETURNING sku",
            sku,
            warehouse,
        )
        if deleted is not None:
            pending.append(("stock_levels", (sku, warehouse), "d", None))
        self.stock.remove((sku, warehouse))
        self.stock_by_sku.get(sku, set()).discard(warehouse)

    async def _stock_adjust(self, pending: list) -> None:
        if not self.stock:
            return await self._new_product(pending)
        sku, warehouse = self.stock.choice(self.rng)
        row = await self.conn.fetchrow(
            f"UPDATE {self.where.table('stock_levels')} "
            "SET quantity = greatest(0, quantity + $3) WHERE sku = $1 AND warehouse = $2 "
            "RETURNING *",
            sku,
            warehouse,
            self.rng.randint(-20, 40),
        )
        if row is None:
            self.stock.remove((sku, warehouse))
            return
        pending.append(("stock_levels", (sku, warehouse), "u", dict(row)))

    async def _stock_add(self, pending: list) -> None:
        if not self.products:
            return await self._new_product(pending)
        sku = self.products.choice(self.rng)
        free = [w for w in WAREHOUSES if w not in self.stock_by_sku.get(sku, set())]
        if not free:
            return await self._stock_adjust(pending)
        await self._insert_stock(pending, sku, self.rng.choice(free))

    async def _stock_remove(self, pending: list) -> None:
        if not self.stock:
            return await self._new_product(pending)
        sku, warehouse = self.stock.choice(self.rng)
        await self._delete_stock(pending, sku, warehouse)

    # --- customers ------------------------------------------------------------------------

    def _customer_values(self) -> dict[str, Any]:
        rng = self.rng
        first, last = rng.choice(NAMES), rng.choice(SURNAMES)
        city, country = rng.choice(CITIES)
        return {
            "full_name": f"{first} {last}",
            "email": f"{first}.{last}.{rng.randrange(10_000)}@example.com".lower(),
            "phone": f"+49 30 {rng.randrange(1_000_000, 9_999_999)}",
            "city": city,
            "country": country,
        }

    async def _new_customer(self, pending: list) -> None:
        table = self.where.table("legacy_customers")
        legacy_id = await self.conn.fetchval(
            "SELECT nextval(pg_get_serial_sequence($1, 'legacy_id'))", table
        )
        values = self._customer_values()
        row = await self.conn.fetchrow(
            f"INSERT INTO {table} (legacy_id, customer_no, full_name, email, phone, city, country) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *",
            legacy_id,
            f"C-{legacy_id:07d}",
            *values.values(),
        )
        pending.append(("legacy_customers", (legacy_id,), "c", dict(row)))
        self.customers.add(legacy_id)

    async def _update_customer(self, pending: list) -> None:
        if not self.customers:
            return await self._new_customer(pending)
        legacy_id = self.customers.choice(self.rng)
        values = self._customer_values()
        field_name = self.rng.choice(("email", "phone", "city"))
        sets = {field_name: values[field_name]}
        if field_name == "city":
            sets["country"] = values["country"]
        if not await self._update_row(pending, "legacy_customers", ("legacy_id", legacy_id), sets):
            self.customers.remove(legacy_id)

    async def _delete_customer(self, pending: list) -> None:
        if not self.customers:
            return await self._new_customer(pending)
        legacy_id = self.customers.choice(self.rng)
        deleted = await self.conn.fetchval(
            f"DELETE FROM {self.where.table('legacy_customers')} WHERE legacy_id = $1 "
            "RETURNING legacy_id",
            legacy_id,
        )
        if deleted is not None:
            pending.append(("legacy_customers", (legacy_id,), "d", None))
        self.customers.remove(legacy_id)
