// Counts the requests a local Kafka broker has served, by type (and the bytes and messages
// it took in), from its JMX metrics: one JSON object on stdout. The broker must be started
// with LOCAL_KAFKA_JMX_PORT (deploy/local/infra.sh). Run with the JDK's source launcher:
//   java bench/peer/KafkaRequests.java 9999
// bench/peer/litellm_bench.py reads it before and after each row (the difference is the row's).
import java.util.Map;
import java.util.TreeMap;
import javax.management.MBeanServerConnection;
import javax.management.ObjectName;
import javax.management.remote.JMXConnector;
import javax.management.remote.JMXConnectorFactory;
import javax.management.remote.JMXServiceURL;

public class KafkaRequests {
    public static void main(String[] args) throws Exception {
        String port = args.length > 0 ? args[0] : "9999";
        JMXServiceURL url = new JMXServiceURL(
            "service:jmx:rmi:///jndi/rmi://127.0.0.1:" + port + "/jmxrmi");
        try (JMXConnector connector = JMXConnectorFactory.connect(url)) {
            MBeanServerConnection server = connector.getMBeanServerConnection();
            Map<String, Long> counts = new TreeMap<>();
            ObjectName requests = new ObjectName(
                "kafka.network:type=RequestMetrics,name=RequestsPerSec,request=*,version=*");
            for (ObjectName name : server.queryNames(requests, null)) {
                long count = ((Number) server.getAttribute(name, "Count")).longValue();
                counts.merge(name.getKeyProperty("request"), count, Long::sum);
            }
            for (String metric : new String[] {"MessagesInPerSec", "BytesInPerSec", "BytesOutPerSec"}) {
                ObjectName name = new ObjectName("kafka.server:type=BrokerTopicMetrics,name=" + metric);
                counts.put(metric, ((Number) server.getAttribute(name, "Count")).longValue());
            }
            StringBuilder out = new StringBuilder("{");
            for (Map.Entry<String, Long> e : counts.entrySet()) {
                if (out.length() > 1) out.append(", ");
                out.append('"').append(e.getKey()).append("\": ").append(e.getValue());
            }
            System.out.println(out.append('}'));
        }
    }
}
