package pgsvc.pooler;

import java.util.Queue;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicInteger;

import org.jctools.queues.MpscUnboundedXaddArrayQueue;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs tasks one at a time, in submission order, on whichever thread submits while nobody else is draining.
 * A pool's state is touched only inside its executor, so it needs no lock, and no event loop ever waits on another:
 * a submitter that finds the executor busy leaves its task in the queue for the current drainer and returns.
 */
final class SerialExecutor implements Executor {
    private static final Logger log = LoggerFactory.getLogger(SerialExecutor.class);

    private final Queue<Runnable> tasks = new MpscUnboundedXaddArrayQueue<>(64);
    private final AtomicInteger wip = new AtomicInteger();

    @Override
    public void execute(Runnable task) {
        tasks.offer(task);
        if (wip.getAndIncrement() != 0) {
            return;
        }
        int missed = 1;
        do {
            Runnable next;
            while ((next = tasks.poll()) != null) {
                try {
                    next.run();
                } catch (Throwable t) {
                    log.error("pool task failed", t);
                }
            }
            missed = wip.addAndGet(-missed);
        } while (missed != 0);
    }
}
