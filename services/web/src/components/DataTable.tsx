import type { ReactNode } from 'react';
import { ErrorAlert, Loading } from './ErrorAlert';

/** The errors of the queries behind a view (each in its own alert) and, while pending, "Loading …". */
export function QueryStatus({ errors, pending, what }: { errors: unknown[]; pending: boolean; what: string }) {
  return (
    <>
      {errors.map((error, index) => (
        <ErrorAlert key={index} error={error} />
      ))}
      {pending && <Loading what={what} />}
    </>
  );
}

interface DataTableProps {
  /** Header cells, one column each (scope="col"). */
  columns: ReactNode[];
  /** The rows. */
  children: ReactNode;
  /** A caption for screen readers only. */
  caption?: string;
  labelledBy?: string;
  busy?: boolean;
  /** When given, a single muted row spanning every column (the table has no rows). */
  empty?: string;
}

/** A scrollable table with a header row and, when empty, a row that says so. */
export function DataTable({ columns, children, caption, labelledBy, busy, empty }: DataTableProps) {
  return (
    <div className="table-wrap">
      <table aria-labelledby={labelledBy} aria-busy={busy}>
        {caption !== undefined && <caption className="visually-hidden">{caption}</caption>}
        <thead>
          <tr>
            {columns.map((column, index) => (
              <th key={index} scope="col">
                {column}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {empty && (
            <tr>
              <td colSpan={columns.length} className="muted">
                {empty}
              </td>
            </tr>
          )}
          {children}
        </tbody>
      </table>
    </div>
  );
}

/** The header cell of a column of row actions: named for screen readers only. */
export const ACTIONS_COLUMN = <span className="visually-hidden">Actions</span>;
