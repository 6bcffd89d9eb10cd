// Readiness probe and small admin helper for the test broker started by scripts/kafka.sh.
// Compiled once at install time against the Kafka jars; kept dependency-free beyond kafka-clients.
import java.util.Properties;
import java.util.Collection;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.utils.AppInfoParser;

public final class KafkaProbe {
    private KafkaProbe() {}

    public static void main(String[] args) throws Exception {
        if (args.length == 0) {
            usage();
        }
        switch (args[0]) {
            case "version":
                System.out.println(AppInfoParser.getVersion());
                return;
            case "wait":
                if (args.length < 3) usage();
                System.exit(waitReady(args[1], Integer.parseInt(args[2]), args.length > 3 ? Long.parseLong(args[3]) : -1));
                return;
            case "topics":
                if (args.length < 2) usage();
                listTopics(args[1]);
                return;
            default:
                usage();
        }
    }

    private static void usage() {
        System.err.println("usage: KafkaProbe version | wait <bootstrap> <timeout-seconds> [pid] | topics <bootstrap>");
        System.exit(64);
    }

    private static Admin admin(String bootstrap) {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "3000");
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "4000");
        p.put(AdminClientConfig.RECONNECT_BACKOFF_MS_CONFIG, "100");
        p.put(AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "500");
        p.put(AdminClientConfig.CLIENT_ID_CONFIG, "clickgate-kafka-probe");
        return Admin.create(p);
    }

    /** Ready = the broker answers a metadata request, lists itself as an (unfenced) node and knows a controller. */
    private static int waitReady(String bootstrap, int timeoutSeconds, long pid) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(timeoutSeconds);
        String lastError = "no attempt made";
        try (Admin admin = admin(bootstrap)) {
            while (System.nanoTime() < deadline) {
                if (pid > 0 && ProcessHandle.of(pid).map(h -> !h.isAlive()).orElse(true)) {
                    System.err.println("kafka-probe: broker process " + pid + " exited");
                    return 2;
                }
                try {
                    DescribeClusterResult cluster = admin.describeCluster();
                    Collection<Node> nodes = cluster.nodes().get(3, TimeUnit.SECONDS);
                    Node controller = cluster.controller().get(3, TimeUnit.SECONDS);
                    String clusterId = cluster.clusterId().get(3, TimeUnit.SECONDS);
                    if (!nodes.isEmpty() && controller != null && !controller.isEmpty()) {
                        admin.listTopics().names().get(3, TimeUnit.SECONDS);
                        System.out.println("kafka-probe: ready cluster=" + clusterId + " brokers=" + nodes.size());
                        return 0;
                    }
                    lastError = "cluster has no live broker yet";
                } catch (Exception e) {
                    Throwable cause = e.getCause() != null ? e.getCause() : e;
                    lastError = cause.getClass().getSimpleName() + ": " + cause.getMessage();
                }
                Thread.sleep(250);
            }
        }
        System.err.println("kafka-probe: not ready after " + timeoutSeconds + "s: " + lastError);
        return 1;
    }

    private static void listTopics(String bootstrap) throws Exception {
        try (Admin admin = admin(bootstrap)) {
            for (String t : new TreeSet<>(admin.listTopics().names().get(10, TimeUnit.SECONDS))) {
                System.out.println(t);
            }
        }
    }
}
