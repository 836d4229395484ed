// Creates the topics and ACLs of acls.txt on the secured local broker, as its super user.
// Run by deploy/local/infra.sh (Java's single-file launcher, the broker's own jars):
//   java -cp '<lib>/*' ApplyAcls.java <bootstrap> <acls.txt>   (password: KAFKA_ADMIN_PASSWORD)
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;

public class ApplyAcls {
  public static void main(String[] args) throws Exception {
    String password = System.getenv("KAFKA_ADMIN_PASSWORD");
    Properties props = new Properties();
    props.put("bootstrap.servers", args[0]);
    props.put("security.protocol", "SASL_PLAINTEXT");
    props.put("sasl.mechanism", "SCRAM-SHA-512");
    props.put(
        "sasl.jaas.config",
        "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\""
            + " password=\"" + password + "\";");
    List<NewTopic> topics = new ArrayList<>();
    List<AclBinding> acls = new ArrayList<>();
    for (String raw : Files.readAllLines(Path.of(args[1]))) {
      String line = raw.strip();
      if (line.isEmpty() || line.startsWith("#")) continue;
      String[] f = line.split("\\s+");
      if (f[0].equals("topic")) {
        NewTopic topic = new NewTopic(f[1], Integer.parseInt(f[2]), (short) 1);
        if (f.length > 3 && f[3].equals("compact")) {
          topic.configs(Map.of("cleanup.policy", "compact", "min.cleanable.dirty.ratio", "0.1"));
        }
        topics.add(topic);
      } else if (f[0].equals("acl")) {
        ResourcePattern resource =
            new ResourcePattern(ResourceType.valueOf(f[3]), f[4], PatternType.valueOf(f[5]));
        for (String op : f[2].split(",")) {
          acls.add(new AclBinding(resource, new AccessControlEntry(
              f[1], "*", AclOperation.valueOf(op), AclPermissionType.ALLOW)));
        }
      } else {
        throw new IllegalArgumentException("unknown line in " + args[1] + ": " + line);
      }
    }
    try (Admin admin = Admin.create(props)) {
      Set<String> existing = admin.listTopics().names().get();
      List<NewTopic> missing = new ArrayList<>();
      for (NewTopic topic : topics) if (!existing.contains(topic.name())) missing.add(topic);
      admin.createTopics(missing).all().get();
      admin.createAcls(acls).all().get();
      System.out.println("[infra] " + missing.size() + " topics created, " + acls.size() + " ACLs applied");
    }
  }
}
