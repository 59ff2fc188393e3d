package pgsvc.pooler;

import java.util.Queue;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.ObjLongConsumer;

import org.jctools.queues.MpscUnboundedXaddArrayQueue;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs tasks one at a time, in submission order, on whichever thread submits while nobody else is draining.
 * A pool's state is touched only inside its executor, so it needs no lock, and no event loop ever waits on another:
 * a submitter that finds the executor busy leaves its task in the queue for the current drainer and returns.
 *
 * <p>The pool's per-transaction steps use {@link #execute(ObjLongConsumer, Object, long)} with a task made once:
 * run at once, as they nearly always are, they allocate nothing. A capturing lambda per step was the pooler's only
 * steady allocation, and fresh heap regions wake Shenandoah's control thread every millisecond instead of every ten.
 */
final class SerialExecutor implements Executor {
    private static final Logger log = LoggerFactory.getLogger(SerialExecutor.class);

    private final Queue<Runnable> tasks = new MpscUnboundedXaddArrayQueue<>(64);
    private final AtomicInteger wip = new AtomicInteger();

    @Override
    public void execute(Runnable task) {
        if (wip.compareAndSet(0, 1)) {
            // Nobody draining and nothing queued: run it here, without a trip through the queue.
            run(task);
            drain(wip.decrementAndGet());
        } else {
            enqueue(task);
        }
    }

    /**
     * {@code task.accept(arg, value)} in the executor, as {@link #execute(Runnable)} would run it; only a task that
     * has to wait in the queue is wrapped (allocated).
     */
    <T> void execute(ObjLongConsumer<? super T> task, T arg, long value) {
        if (wip.compareAndSet(0, 1)) {
            try {
                task.accept(arg, value);
            } catch (Throwable t) {
                log.error("pool task failed", t);
            }
            drain(wip.decrementAndGet());
        } else {
            enqueue(() -> task.accept(arg, value));
        }
    }

    /** Leaves the task to whoever is draining, or drains it ourselves if they finished in the meantime. */
    private void enqueue(Runnable task) {
        tasks.offer(task);
        if (wip.getAndIncrement() == 0) {
            drain(1);
        }
    }

    /** Runs what others left for us while we ran: every increment of wip follows its task's offer. */
    private void drain(int missed) {
        while (missed != 0) {
            Runnable next;
            while ((next = tasks.poll()) != null) {
                run(next);
            }
            missed = wip.addAndGet(-missed);
        }
    }

    private static void run(Runnable task) {
        try {
            task.run();
        } catch (Throwable t) {
            log.error("pool task failed", t);
        }
    }
}
