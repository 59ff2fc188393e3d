package pgsvc;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.util.ResourceLeakDetector;
import io.netty.util.ResourceLeakDetectorFactory;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.lang.ref.Reference;
import java.lang.ref.ReferenceQueue;
import java.lang.ref.WeakReference;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;

/**
 * Fails a test class when a Netty buffer leaked while it ran (or before, if an earlier class leaked something that
 * only became collectable later). Registered for every test through JUnit's extension autodetection
 * (src/test/resources/junit-platform.properties and META-INF/services).
 *
 * <p>Netty only logs leaks, and only when a later allocation happens to look at its reference queue; a log line is
 * easy to miss. This guard installs detectors that record each leak, and after each class forces the check: a GC,
 * proven to have run by a cleared weak reference, then allocations that make the detector drain its queue.
 */
public final class LeakGuard implements BeforeAllCallback, AfterAllCallback {

    /** GC-then-allocate rounds per check: a leak whose reference is enqueued late is caught by the next round. */
    private static final int ROUNDS = 3;
    private static final long GC_DEADLINE_NANOS = TimeUnit.SECONDS.toNanos(10);

    private static final Queue<String> LEAKS = new ConcurrentLinkedQueue<>();
    private static final Set<String> DETECTED_TYPES = ConcurrentHashMap.newKeySet();

    static {
        // Must happen before Netty creates its detectors, which it does once, when a buffer class is initialized.
        // JUnit instantiates autodetected extensions before running any test, which is early enough.
        ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.PARANOID);
        ResourceLeakDetectorFactory.setResourceLeakDetectorFactory(new RecordingFactory());
    }

    @Override
    public void beforeAll(ExtensionContext context) {
        ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.PARANOID);
        Unpooled.directBuffer(1).release();
        if (!DETECTED_TYPES.contains(ByteBuf.class.getName())) {
            throw new AssertionError("LeakGuard was installed after Netty created its ByteBuf leak detector; "
                    + "leaks would go unnoticed. Something initialized Netty buffers before JUnit loaded extensions.");
        }
    }

    @Override
    public void afterAll(ExtensionContext context) {
        List<String> leaks = detectLeaks();
        if (!leaks.isEmpty()) {
            String report = leaks.size() + " Netty resource leak(s) detected after "
                    + context.getDisplayName() + ":\n" + String.join("\n", leaks);
            System.err.println(report);
            throw new AssertionError(report);
        }
    }

    /**
     * Makes the leak detectors report every buffer that has become unreachable without being released, and returns
     * (and forgets) all leaks recorded so far, each with Netty's access records.
     */
    public static List<String> detectLeaks() {
        for (int round = 0; round < ROUNDS; round++) {
            awaitGarbageCollection();
            // A tracked allocation makes the ByteBuf detector poll its reference queue and report what it finds.
            // Direct, because unpooled heap buffers are not tracked.
            Unpooled.directBuffer(1).release();
        }
        List<String> leaks = new ArrayList<>();
        for (String leak; (leak = LEAKS.poll()) != null; ) {
            leaks.add(leak);
        }
        return leaks;
    }

    /** Runs GCs until a fresh weak reference has been cleared and enqueued, which proves one has completed. */
    private static void awaitGarbageCollection() {
        ReferenceQueue<Object> queue = new ReferenceQueue<>();
        WeakReference<Object> canary = new WeakReference<>(new Object(), queue);
        long deadline = System.nanoTime() + GC_DEADLINE_NANOS;
        try {
            while (System.nanoTime() - deadline < 0) {
                System.gc();
                if (queue.remove(100) != null) {
                    return;
                }
            }
            throw new AssertionError("no garbage collection within 10 s: is -XX:+DisableExplicitGC set?");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted while waiting for garbage collection", e);
        } finally {
            Reference.reachabilityFence(canary);
        }
    }

    private static final class RecordingFactory extends ResourceLeakDetectorFactory {

        @Override
        @SuppressWarnings("deprecation")
        public <T> ResourceLeakDetector<T> newResourceLeakDetector(Class<T> resource, int samplingInterval,
                long maxActive) {
            return newResourceLeakDetector(resource, samplingInterval);
        }

        @Override
        public <T> ResourceLeakDetector<T> newResourceLeakDetector(Class<T> resource, int samplingInterval) {
            DETECTED_TYPES.add(resource.getName());
            return new RecordingDetector<>(resource, samplingInterval);
        }
    }

    private static final class RecordingDetector<T> extends ResourceLeakDetector<T> {

        RecordingDetector(Class<?> resourceType, int samplingInterval) {
            super(resourceType, samplingInterval);
        }

        /** Report even when the logging configuration has error logging off for Netty. */
        @Override
        protected boolean needReport() {
            return true;
        }

        @Override
        protected void reportTracedLeak(String resourceType, String records) {
            LEAKS.add("LEAK: " + resourceType + ".release() was not called before it was garbage-collected."
                    + records);
        }

        @Override
        protected void reportUntracedLeak(String resourceType) {
            LEAKS.add("LEAK: " + resourceType + ".release() was not called before it was garbage-collected"
                    + " (no access records: leak detection level was below ADVANCED).");
        }
    }
}
