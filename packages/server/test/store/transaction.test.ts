import { memoryPglite } from '../helpers/databases.js';
import { transactionSuite } from './transaction-suite.js';

transactionSuite('PGlite', memoryPglite);
