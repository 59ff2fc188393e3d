package pgsvc.pooler;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

import org.HdrHistogram.Histogram;

/**
 * The statistics of one (database, user) pair, PgBouncer's per-pool {@code PgStats}: counters since start for SHOW
 * STATS and its kin, and latency histograms for SHOW LATENCY. A pool retired and made anew (RELOAD, a failover)
 * keeps counting here, so totals only grow.
 *
 * <p>The hot path writes without a lock, an atomic read-modify-write or an allocation: each event loop has its own
 * {@link Slot}, written only by that loop's thread. Readers sum the slots' counters from any thread (opaque reads: a
 * value may lag by an instant, never tear). The histograms of a slot are touched only on its loop; {@link Stats} has
 * them copied there and merged on its own loop into {@link #total}, {@link #building} and {@link #last}.
 */
final class PoolStats {
    /** Counter indexes, in PgBouncer's order. */
    static final int ASSIGNMENTS = 0;
    static final int XACTS = 1;
    static final int QUERIES = 2;
    static final int RECEIVED = 3;
    static final int SENT = 4;
    static final int XACT_TIME = 5;
    static final int QUERY_TIME = 6;
    static final int WAIT_TIME = 7;
    static final int CLIENT_PARSES = 8;
    static final int SERVER_PARSES = 9;
    static final int BINDS = 10;
    static final int COUNTERS = 11;

    /** Histogram indexes: query time, transaction time, wait time (microseconds). */
    static final int QUERY = 0;
    static final int XACT = 1;
    static final int WAIT = 2;
    static final int MEASURES = 3;

    /** Two significant digits: percentiles within 1%, and a few kilobytes per histogram. */
    static final int DIGITS = 2;

    final String database;
    final String user;
    private final Slot[] slots;

    /** Merged latency, since start, of the period under way and of the last complete one; on Stats' loop only. */
    final Histogram[] total = histograms();
    Histogram[] building = histograms();
    Histogram[] last = histograms();

    PoolStats(String database, String user, int loops) {
        this.database = database;
        this.user = user;
        this.slots = new Slot[loops];
        for (int i = 0; i < loops; i++) {
            slots[i] = new Slot();
        }
    }

    /** The slot of event loop {@code loopIndex}; write to it only on that loop. */
    Slot slot(int loopIndex) {
        return slots[loopIndex];
    }

    /** The counters summed over the loops, indexed as {@link #ASSIGNMENTS} ... {@link #BINDS}. */
    long[] totals() {
        long[] sum = new long[COUNTERS];
        for (Slot s : slots) {
            for (int i = 0; i < COUNTERS; i++) {
                sum[i] += s.get(i);
            }
        }
        return sum;
    }

    /** Adds histograms drained from a slot; on Stats' loop. */
    void merge(Histogram[] drained) {
        for (int m = 0; m < MEASURES; m++) {
            total[m].add(drained[m]);
            building[m].add(drained[m]);
        }
    }

    /** The stats_period is over: what was merged during it becomes the last period's; on Stats' loop. */
    void endPeriod() {
        Histogram[] done = building;
        building = last;
        for (Histogram h : building) {
            h.reset();
        }
        last = done;
    }

    static Histogram[] histograms() {
        Histogram[] h = new Histogram[MEASURES];
        for (int m = 0; m < MEASURES; m++) {
            h[m] = new Histogram(DIGITS);
        }
        return h;
    }

    /**
     * One event loop's share. The counters sit in an array padded on both sides so that no two loops' counters
     * share a cache line; each is written with an opaque store of the loop's own running value.
     */
    static final class Slot {
        private static final VarHandle AT = MethodHandles.arrayElementVarHandle(long[].class);
        /** One cache line (and the array header's neighbour) on either side. */
        private static final int PAD = 8;

        private final long[] counters = new long[PAD + COUNTERS + PAD];
        /** Query, transaction and wait times of the current round; made on first use, on the slot's loop. */
        private Histogram[] latency;

        private void add(int index, long n) {
            int i = PAD + index;
            AT.setOpaque(counters, i, counters[i] + n);
        }

        long get(int index) {
            return (long) AT.getOpaque(counters, PAD + index);
        }

        private Histogram[] latency() {
            Histogram[] h = latency;
            if (h == null) {
                h = histograms();
                latency = h;
            }
            return h;
        }

        /**
         * A client got a server: PgBouncer's server assignment, and the time it waited in the pool's queue.
         *
         * @param queuedAt System.nanoTime() when it was queued, 0 if a server was free at once
         */
        void assigned(long queuedAt) {
            long waited = queuedAt == 0 ? 0 : Math.max(0, (System.nanoTime() - queuedAt) / 1000);
            add(ASSIGNMENTS, 1);
            if (waited > 0) {
                add(WAIT_TIME, waited);
            }
            latency()[WAIT].recordValue(waited);
        }

        /** A query ended (ReadyForQuery with nothing outstanding) that began at {@code start} (0: none). */
        void queryDone(long start, long now) {
            if (start != 0) {
                long micros = Math.max(0, (now - start) / 1000);
                add(QUERIES, 1);
                add(QUERY_TIME, micros);
                latency()[QUERY].recordValue(micros);
            }
        }

        /** A transaction ended (ReadyForQuery 'I') that began at {@code start} (0: none). */
        void xactDone(long start, long now) {
            if (start != 0) {
                long micros = Math.max(0, (now - start) / 1000);
                add(XACTS, 1);
                add(XACT_TIME, micros);
                latency()[XACT].recordValue(micros);
            }
        }

        /** Bytes from the client, a batch at a time. */
        void received(int bytes) {
            add(RECEIVED, bytes);
        }

        /** Bytes to the client, a batch at a time. */
        void sent(int bytes) {
            add(SENT, bytes);
        }

        /** A named Parse from the client (max_prepared_statements). */
        void clientParse() {
            add(CLIENT_PARSES, 1);
        }

        /** A Parse the pooler sent to a server: the client's, or one made for a server that lacked the statement. */
        void serverParse() {
            add(SERVER_PARSES, 1);
        }

        /** A Bind of a client's named statement. */
        void bind() {
            add(BINDS, 1);
        }

        /** Copies and clears this round's histograms, or returns null if nothing was recorded; on the slot's loop. */
        Histogram[] drain() {
            Histogram[] h = latency;
            if (h == null || h[WAIT].getTotalCount() == 0 && h[QUERY].getTotalCount() == 0
                    && h[XACT].getTotalCount() == 0) {
                return null;
            }
            Histogram[] copy = new Histogram[MEASURES];
            for (int m = 0; m < MEASURES; m++) {
                copy[m] = h[m].copy();
                h[m].reset();
            }
            return copy;
        }
    }
}
