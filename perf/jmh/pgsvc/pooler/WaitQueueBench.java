package pgsvc.pooler;

import java.util.concurrent.TimeUnit;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The pool's take and return as a saturated pool does them per transaction: a client queues, a released server
 * goes to a waiter on its own loop, each step a task through the pool's SerialExecutor. The waiters are the unit
 * test's (this profile compiles perf/jmh with the tests).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class WaitQueueBench {
    @Param({"20", "500"})
    public int waiting;

    private WaitQueue<WaitQueueTest.W> queue;
    private final SerialExecutor exec = new SerialExecutor();
    private WaitQueueTest.W arriving;
    private WaitQueueTest.W served;

    @Setup
    public void setUp() {
        pgsvc.protocol.QuietLogs.apply();
        queue = new WaitQueue<>(2);
        for (int i = 0; i < waiting; i++) {
            queue.addLast(new WaitQueueTest.W("w" + i, i % 2));
        }
        arriving = new WaitQueueTest.W("arriving", 1);
    }

    /** One client queues and one is served; the one served comes back as the next to queue. */
    @Benchmark
    public WaitQueueTest.W takeAndReturn() {
        WaitQueueTest.W client = arriving;
        exec.execute(() -> queue.addLast(client));
        exec.execute(() -> served = queue.pollFor(client.loop));
        arriving = served;
        return served;
    }
}
