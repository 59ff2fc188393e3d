package pgsvc.pooler;

import java.util.ArrayDeque;

/**
 * A pool's waiting clients: first come, first served, with one exception that saves most cross-thread hand-offs.
 * A server freed on one event loop goes to the oldest waiter on that same loop when that waiter queued within
 * {@link #SAME_TIME_NANOS} of the pool's oldest waiter (clients that queued that close together count as arriving
 * together), so that client and server share a thread and no wakeup is needed on either side. The oldest waiter
 * can be passed over this way at most {@link #MAX_BYPASS} times in a row. Confined to the pool's executor.
 */
final class WaitQueue<W extends WaitQueue.Waiter> {
    /** What the queue needs of a waiting client: its event loop, and two fields it keeps on the client's behalf. */
    interface Waiter {
        int loopIndex();

        long waitSeq();

        void waitSeq(long seq);

        /** System.nanoTime() when it was queued. */
        long waitStart();

        void waitStart(long nanos);
    }

    static final int MAX_BYPASS = 8;
    static final long SAME_TIME_NANOS = 1_000_000;

    private final ArrayDeque<W>[] byLoop;
    private long nextSeq;
    private int size;
    private int bypassed;

    @SuppressWarnings("unchecked")
    WaitQueue(int loops) {
        byLoop = new ArrayDeque[loops];
        for (int i = 0; i < loops; i++) {
            byLoop[i] = new ArrayDeque<>();
        }
    }

    void addLast(W client) {
        client.waitSeq(nextSeq++);
        client.waitStart(System.nanoTime());
        byLoop[client.loopIndex()].addLast(client);
        size++;
    }

    /** Ahead of everyone (a client whose server is being checked before it gets it). */
    void addFirst(W client) {
        W first = peekFirst();
        client.waitSeq(first == null ? nextSeq++ : first.waitSeq() - 1);
        client.waitStart(System.nanoTime());
        byLoop[client.loopIndex()].addFirst(client);
        size++;
    }

    boolean remove(W client) {
        if (byLoop[client.loopIndex()].remove(client)) {
            size--;
            return true;
        }
        return false;
    }

    int size() {
        return size;
    }

    boolean isEmpty() {
        return size == 0;
    }

    /** The longest-waiting client, or null. */
    W peekFirst() {
        W oldest = null;
        for (ArrayDeque<W> q : byLoop) {
            W c = q.peekFirst();
            if (c != null && (oldest == null || c.waitSeq() < oldest.waitSeq())) {
                oldest = c;
            }
        }
        return oldest;
    }

    W pollFirst() {
        W oldest = peekFirst();
        if (oldest != null) {
            byLoop[oldest.loopIndex()].pollFirst();
            size--;
            bypassed = 0;
        }
        return oldest;
    }

    /** The waiter that should get a server living on {@code loopIndex}. */
    W pollFor(int loopIndex) {
        if (size == 0) {
            // Every release asks; with fewer clients than servers nobody waits, and the deques stay untouched.
            return null;
        }
        W local = byLoop[loopIndex].peekFirst();
        if (local == null || bypassed >= MAX_BYPASS) {
            return pollFirst();
        }
        W oldest = peekFirst();
        if (oldest == local) {
            bypassed = 0;
        } else if (local.waitStart() - oldest.waitStart() <= SAME_TIME_NANOS) {
            bypassed++;
        } else {
            return pollFirst();
        }
        byLoop[loopIndex].pollFirst();
        size--;
        return local;
    }
}
