package pgsvc;

import net.jqwik.api.lifecycle.AfterContainerHook;
import net.jqwik.api.lifecycle.BeforeContainerHook;
import net.jqwik.api.lifecycle.ContainerLifecycleContext;

import java.util.List;

/**
 * {@link LeakGuard} for jqwik property classes, which JUnit Jupiter's extensions do not reach: add it with
 * {@code @AddLifecycleHook(JqwikLeakGuard.class)} and a Netty buffer leaked while the class ran fails it.
 */
public final class JqwikLeakGuard implements BeforeContainerHook, AfterContainerHook {

    @Override
    public void beforeContainer(ContainerLifecycleContext context) {
        // Loads LeakGuard, whose static initializer installs the recording detectors, and checks they are in place.
        new LeakGuard().beforeAll(null);
    }

    @Override
    public void afterContainer(ContainerLifecycleContext context) {
        List<String> leaks = LeakGuard.detectLeaks();
        if (!leaks.isEmpty()) {
            throw new AssertionError(leaks.size() + " Netty resource leak(s) detected after " + context.label()
                    + ":\n" + String.join("\n", leaks));
        }
    }
}
