package pgsvc.pooler;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.ObjLongConsumer;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The pool's executor: tasks from several threads run one at a time, each exactly once, each thread's in the order
 * it gave them, whether they ran on the submitter's thread (nobody else draining) or were left for the drainer.
 */
class SerialExecutorTest {
    private static final int THREADS = 4;
    private static final int TASKS = 50_000;

    @ParameterizedTest(name = "prebuilt task with arguments: {0}")
    @ValueSource(booleans = {false, true})
    void tasksFromManyThreadsRunOneAtATimeOnceEachAndInOrderPerThread(boolean prebuilt) throws Exception {
        SerialExecutor exec = new SerialExecutor();
        AtomicBoolean inside = new AtomicBoolean();
        AtomicBoolean overlapped = new AtomicBoolean();
        int[] last = new int[THREADS];
        int[] outOfOrder = new int[1];
        long[] ran = new long[1];
        CountDownLatch start = new CountDownLatch(1);
        List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < THREADS; t++) {
            int who = t;
            Thread thread = new Thread(() -> {
                try {
                    start.await();
                } catch (InterruptedException e) {
                    return;
                }
                ObjLongConsumer<int[]> step = (slot, seq) -> {
                    if (!inside.compareAndSet(false, true)) {
                        overlapped.set(true);
                    }
                    // Plain fields: the executor's hand-offs must make them visible to the next drainer.
                    if (slot[who] != seq - 1) {
                        outOfOrder[0]++;
                    }
                    slot[who] = (int) seq;
                    ran[0]++;
                    inside.set(false);
                };
                for (int i = 1; i <= TASKS; i++) {
                    int seq = i;
                    if (prebuilt) {
                        exec.execute(step, last, seq);
                    } else {
                        exec.execute(() -> step.accept(last, seq));
                    }
                }
            });
            threads.add(thread);
            thread.start();
        }
        start.countDown();
        for (Thread thread : threads) {
            thread.join();
        }
        // Every submitter has returned, and a drainer returns only once the queue is empty: all tasks have run.
        assertFalse(overlapped.get(), "two tasks ran at once");
        assertEquals(0, outOfOrder[0], "tasks of one thread ran out of order");
        assertEquals((long) THREADS * TASKS, ran[0]);
        for (int t = 0; t < THREADS; t++) {
            assertEquals(TASKS, last[t]);
        }
    }

    @Test
    void aTaskGivenFromInsideATaskRunsAfterIt() {
        SerialExecutor exec = new SerialExecutor();
        List<String> order = new ArrayList<>();
        exec.execute(() -> {
            exec.execute(() -> order.add("inner"));
            order.add("outer");
        });
        assertEquals(List.of("outer", "inner"), order);
    }

    @Test
    void aFailingTaskDoesNotStopTheOnesAfterIt() {
        SerialExecutor exec = new SerialExecutor();
        List<String> order = new ArrayList<>();
        exec.execute(() -> {
            exec.execute(() -> {
                throw new IllegalStateException("expected by the test");
            });
            exec.execute(() -> order.add("after"));
        });
        exec.execute(() -> order.add("next"));
        assertEquals(List.of("after", "next"), order);
    }

    @Test
    void aPrebuiltTaskRunAtOnceAllocatesNothing() {
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long self = Thread.currentThread().getId();
        SerialExecutor exec = new SerialExecutor();
        long[] sum = new long[1];
        ObjLongConsumer<long[]> add = (into, n) -> into[0] += n;
        int calls = 100_000;
        exec.execute(add, sum, 0);
        long before = threads.getThreadAllocatedBytes(self);
        for (int i = 1; i <= calls; i++) {
            exec.execute(add, sum, i);
        }
        long after = threads.getThreadAllocatedBytes(self);
        long allocated = after - before;
        // Checked only now: the first call of an assertion loads its class, which would count as allocation.
        assertTrue(before >= 0 && after >= 0, "this JVM does not count a thread's allocations");
        assertEquals((long) calls * (calls + 1) / 2, sum[0]);
        // A task wrapped per call would be 16 bytes or more each: 1.6 MB here.
        assertTrue(allocated < calls, "allocated " + allocated + " bytes in " + calls + " calls");
    }

    @Test
    void aPrebuiltTaskThatFailsDoesNotStopTheNextOne() {
        SerialExecutor exec = new SerialExecutor();
        long[] sum = new long[1];
        ObjLongConsumer<long[]> fail = (into, n) -> {
            throw new IllegalStateException("expected by the test");
        };
        exec.execute(fail, sum, 1);
        exec.execute((into, n) -> into[0] += n, sum, 2);
        exec.execute(() -> sum[0] += 3);
        assertEquals(5, sum[0]);
    }
}
