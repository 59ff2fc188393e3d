package pgsvc.pooler;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** First come, first served, except that a server goes to a waiter on its own loop, within a bound. */
class WaitQueueTest {
    static final class W implements WaitQueue.Waiter {
        final int loop;
        final String name;
        long seq;
        long start;

        W(String name, int loop) {
            this.name = name;
            this.loop = loop;
        }

        @Override
        public int loopIndex() {
            return loop;
        }

        @Override
        public long waitSeq() {
            return seq;
        }

        @Override
        public void waitSeq(long s) {
            seq = s;
        }

        @Override
        public long waitStart() {
            return start;
        }

        @Override
        public void waitStart(long nanos) {
            start = nanos;
        }

        @Override
        public String toString() {
            return name;
        }
    }

    @Test
    void pollFirstIsFifoAcrossLoops() {
        WaitQueue<W> q = new WaitQueue<>(2);
        W a = new W("a", 1);
        W b = new W("b", 0);
        W c = new W("c", 1);
        q.addLast(a);
        q.addLast(b);
        q.addLast(c);
        assertEquals(3, q.size());
        assertSame(a, q.pollFirst());
        assertSame(b, q.pollFirst());
        assertSame(c, q.pollFirst());
        assertNull(q.pollFirst());
        assertTrue(q.isEmpty());
    }

    @Test
    void aServerGoesToAWaiterOnItsOwnLoop() {
        WaitQueue<W> q = new WaitQueue<>(2);
        W far = new W("far", 1);
        W near = new W("near", 0);
        q.addLast(far);
        q.addLast(near);
        near.start = far.start;
        assertSame(near, q.pollFor(0));
        assertSame(far, q.pollFor(0), "no waiter left on loop 0: the oldest anywhere");
        assertNull(q.pollFor(1));
        assertNull(q.pollFor(0));
    }

    @Test
    void theOldestWaiterIsPassedOverAtMostMaxBypassTimes() {
        WaitQueue<W> q = new WaitQueue<>(2);
        W oldest = new W("oldest", 1);
        q.addLast(oldest);
        for (int i = 0; i < WaitQueue.MAX_BYPASS + 5; i++) {
            W near = new W("near" + i, 0);
            q.addLast(near);
            // All queued at the same moment, as far as the queue's fairness goes.
            near.start = oldest.start;
        }
        for (int i = 0; i < WaitQueue.MAX_BYPASS; i++) {
            assertEquals("near" + i, q.pollFor(0).name);
        }
        assertSame(oldest, q.pollFor(0), "served once bypassed MAX_BYPASS times");
        assertEquals("near" + WaitQueue.MAX_BYPASS, q.pollFor(0).name);
    }

    @Test
    void aWaiterThatQueuedClearlyEarlierIsNeverPassedOver() {
        WaitQueue<W> q = new WaitQueue<>(2);
        W early = new W("early", 1);
        W late = new W("late", 0);
        q.addLast(early);
        q.addLast(late);
        // Queued more than the same-time window apart: arrival order decides.
        early.start = late.start - WaitQueue.SAME_TIME_NANOS - 1;
        assertSame(early, q.pollFor(0));
        assertSame(late, q.pollFor(0));
    }

    @Test
    void addFirstGoesAheadOfEveryoneAndRemoveTakesAWaiterOut() {
        WaitQueue<W> q = new WaitQueue<>(2);
        W a = new W("a", 0);
        W b = new W("b", 1);
        W first = new W("first", 1);
        q.addLast(a);
        q.addLast(b);
        q.addFirst(first);
        assertSame(first, q.peekFirst());
        assertTrue(q.remove(a));
        assertEquals(2, q.size());
        assertSame(first, q.pollFirst());
        assertSame(b, q.pollFirst());
        assertTrue(!q.remove(a));
        assertEquals(0, q.size());
        assertNull(q.pollFor(0), "a removed waiter is not handed a server");
    }
}
