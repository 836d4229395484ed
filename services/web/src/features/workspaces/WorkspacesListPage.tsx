import { Link } from 'react-router-dom';
import { ErrorAlert, Loading } from '../../components/ErrorAlert';
import { useWorkspaces } from '../../lib/queries';

/** /workspaces: every workspace of the organization, each a link to its Agent node. */
export function WorkspacesListPage() {
  const workspaces = useWorkspaces();
  return (
    <>
      <h1>Workspaces</h1>
      <ErrorAlert error={workspaces.error} />
      {workspaces.isPending && <Loading what="workspaces" />}
      {workspaces.data?.length === 0 && <p>No workspaces yet.</p>}
      {workspaces.data && workspaces.data.length > 0 && (
        <ul className="link-list">
          {workspaces.data.map((w) => (
            <li key={w.id}>
              <Link to={`/workspaces/${encodeURIComponent(w.id)}`}>{w.name}</Link>
            </li>
          ))}
        </ul>
      )}
    </>
  );
}
