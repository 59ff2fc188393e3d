package pgsvc.pooler;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.concurrent.TimeUnit;

import org.HdrHistogram.Histogram;
import org.junit.jupiter.api.Test;

/** PgBouncer's average arithmetic and the per-loop slots, without a network. */
class StatsUnitTest {

    private static long[] counters(long assignments, long xacts, long queries, long received, long sent, long xactTime,
            long queryTime, long waitTime, long clientParses, long serverParses, long binds) {
        return new long[] {assignments, xacts, queries, received, sent, xactTime, queryTime, waitTime, clientParses,
            serverParses, binds};
    }

    @Test
    void averagesAreRatesPerSecondAndTimesPerEvent() {
        long[] old = counters(10, 10, 30, 1000, 5000, 700, 900, 50, 1, 1, 3);
        long[] cur = counters(14, 14, 42, 3000, 9000, 1100, 1500, 90, 3, 2, 9);
        long[] avg = Stats.averages(cur, old, TimeUnit.SECONDS.toNanos(2));
        // Counts and bytes per second over the two seconds, truncated as PgBouncer's integers are.
        assertEquals(2, avg[PoolStats.ASSIGNMENTS]);
        assertEquals(2, avg[PoolStats.XACTS]);
        assertEquals(6, avg[PoolStats.QUERIES]);
        assertEquals(1000, avg[PoolStats.RECEIVED]);
        assertEquals(2000, avg[PoolStats.SENT]);
        assertEquals(1, avg[PoolStats.CLIENT_PARSES]);
        assertEquals(0, avg[PoolStats.SERVER_PARSES]);
        assertEquals(3, avg[PoolStats.BINDS]);
        // Times per transaction, query and server assignment of the window.
        assertEquals(100, avg[PoolStats.XACT_TIME]);
        assertEquals(50, avg[PoolStats.QUERY_TIME]);
        assertEquals(10, avg[PoolStats.WAIT_TIME]);
    }

    @Test
    void aQuietWindowOrNoTimeAveragesToZero() {
        long[] same = counters(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11);
        assertArrayEquals(new long[PoolStats.COUNTERS], Stats.averages(same, same, TimeUnit.SECONDS.toNanos(60)));
        assertArrayEquals(new long[PoolStats.COUNTERS], Stats.averages(same, new long[PoolStats.COUNTERS], 0));
    }

    @Test
    void slotsCountAndHandOverTheirHistogramsOnce() {
        PoolStats stats = new PoolStats("db", "user", 2);
        PoolStats.Slot slot = stats.slot(1);
        long now = System.nanoTime();
        slot.assigned(0);
        slot.queryDone(now - TimeUnit.MICROSECONDS.toNanos(300), now);
        slot.queryDone(0, now);
        slot.xactDone(now - TimeUnit.MICROSECONDS.toNanos(500), now);
        slot.received(100);
        slot.sent(250);
        slot.bind();
        stats.slot(0).queryDone(now - TimeUnit.MICROSECONDS.toNanos(100), now);

        long[] totals = stats.totals();
        assertEquals(1, totals[PoolStats.ASSIGNMENTS]);
        assertEquals(2, totals[PoolStats.QUERIES], "a ReadyForQuery with no query started counts nothing");
        assertEquals(400, totals[PoolStats.QUERY_TIME]);
        assertEquals(1, totals[PoolStats.XACTS]);
        assertEquals(500, totals[PoolStats.XACT_TIME]);
        assertEquals(0, totals[PoolStats.WAIT_TIME]);
        assertEquals(100, totals[PoolStats.RECEIVED]);
        assertEquals(250, totals[PoolStats.SENT]);
        assertEquals(1, totals[PoolStats.BINDS]);

        Histogram[] drained = slot.drain();
        assertEquals(1, drained[PoolStats.QUERY].getTotalCount());
        assertEquals(1, drained[PoolStats.WAIT].getTotalCount());
        assertNull(slot.drain(), "what was handed over is not handed over again");
        stats.merge(drained);
        stats.merge(stats.slot(0).drain());
        assertEquals(2, stats.total[PoolStats.QUERY].getTotalCount());
        assertEquals(0, stats.last[PoolStats.QUERY].getTotalCount());
        stats.endPeriod();
        assertEquals(2, stats.last[PoolStats.QUERY].getTotalCount());
        stats.endPeriod();
        assertEquals(0, stats.last[PoolStats.QUERY].getTotalCount(), "a period without traffic");
        assertEquals(2, stats.total[PoolStats.QUERY].getTotalCount());
    }
}
