package pgsvc.testing;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.containers.Container;
import org.testcontainers.containers.ExecConfig;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.containers.Network;
import org.testcontainers.containers.wait.strategy.Wait;

/**
 * PostgreSQL in a Docker container, for machines without server binaries. The container only idles; initdb,
 * pg_ctl and pg_basebackup run in it through {@code docker exec}, so a server can be stopped, started and promoted
 * exactly as on this machine. Never exercised on the machine this was written on (no Docker engine there).
 * Known gaps: the exec timeout is not enforced, and the data and socket directories are not reachable from tests.
 */
final class ContainerPgHost implements PgHost {

    private static final int PG_PORT = 5432;
    private static final String IMAGE = System.getenv().getOrDefault("PGSVC_PG_IMAGE", "postgres:15");

    private final GenericContainer<?> container;
    private final String alias;
    private final String binDir;
    /** The pair shares one network; whoever owns it closes it after its container. */
    private final Network ownedNetwork;

    private ContainerPgHost(Network network, String alias, boolean ownsNetwork) {
        this.alias = alias;
        this.ownedNetwork = ownsNetwork ? network : null;
        // The image's entrypoint runs any command that is not "postgres" as is.
        this.container = new GenericContainer<>(IMAGE)
                .withNetwork(network)
                .withNetworkAliases(alias)
                .withExposedPorts(PG_PORT)
                .withCommand("sleep", "infinity")
                .waitingFor(Wait.forSuccessfulCommand("true"));
        container.start();
        this.binDir = exec(Duration.ofSeconds(30), "pg_config", "--bindir").value();
        exec(Duration.ofSeconds(30), "mkdir", "-p", baseDir()).orThrow();
    }

    static boolean dockerAvailable() {
        try {
            return DockerClientFactory.instance().isDockerAvailable();
        } catch (RuntimeException e) {
            return false;
        }
    }

    /** A primary host and a replica host on a private network; close the replica's first. */
    static List<ContainerPgHost> startPair() {
        Network network = Network.newNetwork();
        ContainerPgHost primary = new ContainerPgHost(network, "pg-primary", true);
        try {
            return List.of(primary, new ContainerPgHost(network, "pg-replica", false));
        } catch (RuntimeException e) {
            primary.close();
            throw e;
        }
    }

    @Override
    public boolean local() {
        return false;
    }

    @Override
    public String binDir() {
        return binDir;
    }

    @Override
    public String baseDir() {
        return "/tmp/pgsvc";
    }

    @Override
    public ProcResult exec(Duration timeout, String... cmd) {
        try {
            Container.ExecResult r =
                    container.execInContainer(ExecConfig.builder().user("postgres").command(cmd).build());
            return new ProcResult(List.of(cmd), r.getExitCode(), r.getStdout(), r.getStderr(), false);
        } catch (IOException e) {
            throw new IllegalStateException("docker exec failed: " + String.join(" ", cmd), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted: " + String.join(" ", cmd), e);
        }
    }

    @Override
    public void writeFile(String path, String content) {
        exec(Duration.ofSeconds(30), "sh", "-c", "printf '%s' \"$1\" > \"$0\"", path, content).orThrow();
    }

    @Override
    public String readFile(String path) {
        ProcResult r = exec(Duration.ofSeconds(30), "cat", path);
        return r.ok() ? r.stdout() : "";
    }

    @Override
    public int newServerPort() {
        return PG_PORT;
    }

    @Override
    public String listenAddresses() {
        return "*";
    }

    @Override
    public String clientNetwork() {
        // Tests arrive through Docker's port mapping and the replica from the private network.
        return "0.0.0.0/0";
    }

    @Override
    public String clientHost() {
        return container.getHost();
    }

    @Override
    public int clientPort(int serverPort) {
        return container.getMappedPort(serverPort);
    }

    @Override
    public String peerHost() {
        return alias;
    }

    @Override
    public void close() {
        container.stop();
        if (ownedNetwork != null) {
            ownedNetwork.close();
        }
    }
}
