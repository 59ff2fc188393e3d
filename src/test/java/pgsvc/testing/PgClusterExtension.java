package pgsvc.testing;

import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Starts {@link PgCluster#shared()} before a test class and stops it when the whole run ends: the resource sits in
 * the root context's store, which JUnit closes after the last test class, not after this one.
 */
public final class PgClusterExtension implements BeforeAllCallback {

    private static final ExtensionContext.Namespace NAMESPACE =
            ExtensionContext.Namespace.create(PgClusterExtension.class);

    @Override
    public void beforeAll(ExtensionContext context) {
        context.getRoot().getStore(NAMESPACE).getOrComputeIfAbsent(SharedCluster.class,
                key -> {
                    PgCluster.shared();
                    return new SharedCluster();
                }, SharedCluster.class);
    }

    private static final class SharedCluster implements ExtensionContext.Store.CloseableResource {

        @Override
        public void close() {
            PgCluster.closeShared();
        }
    }
}
