package pgsvc.pooler;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;

import org.junit.jupiter.api.Test;

/**
 * The pool's executor: tasks from several threads run one at a time, each exactly once, each thread's in the order
 * it gave them, whether they ran on the submitter's thread (nobody else draining) or were left for the drainer.
 */
class SerialExecutorTest {
    private static final int THREADS = 4;
    private static final int TASKS = 50_000;

    @Test
    void tasksFromManyThreadsRunOneAtATimeOnceEachAndInOrderPerThread() throws Exception {
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
                for (int i = 1; i <= TASKS; i++) {
                    int seq = i;
                    exec.execute(() -> {
                        if (!inside.compareAndSet(false, true)) {
                            overlapped.set(true);
                        }
                        // Plain fields: the executor's hand-offs must make them visible to the next drainer.
                        if (last[who] != seq - 1) {
                            outOfOrder[0]++;
                        }
                        last[who] = seq;
                        ran[0]++;
                        inside.set(false);
                    });
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
}
